-- Outpost store schema, version 11: whether an authorization request named its redirect_uri
-- (RFC 6749 §4.1.3: the token request must then repeat it; a client with one registered URI
-- may leave it out of both). Rows written before knew no other case: they all named it.

ALTER TABLE pending_authorizations ADD COLUMN redirect_uri_sent INTEGER NOT NULL DEFAULT 1;
ALTER TABLE authorization_codes ADD COLUMN redirect_uri_sent INTEGER NOT NULL DEFAULT 1;
