-- A redeemed authorization code is kept, marked with the grant its redemption started, so that
-- a replay is recognised and that grant revoked (RFC 6749 §4.1.2). Codes are purged after
-- they expire.
ALTER TABLE authorization_codes ADD COLUMN redeemed_grant_id TEXT;
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
