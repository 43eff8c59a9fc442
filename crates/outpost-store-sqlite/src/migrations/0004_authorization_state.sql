-- The authorization server's short-lived state, shared by every instance on this database:
-- authorization requests waiting for login and consent (the id stored as SHA-256 hex, like
-- codes), attempts counted against rate limits, and fetched client metadata documents. Times
-- are unix seconds; nothing here refers to other tables (a request may name a metadata-document
-- client that is not stored yet), and everything expires.

CREATE TABLE pending_authorizations (
    id_hash        TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    client_name    TEXT NOT NULL,
    client_host    TEXT,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT,
    code_challenge TEXT NOT NULL,
    state          TEXT,
    user_id        TEXT,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_authorizations_expiry ON pending_authorizations (expires_at);

-- AUTOINCREMENT: an id is never reused, so releasing a reservation whose attempt was purged
-- cannot remove a later attempt.
CREATE TABLE throttle_attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX throttle_attempts_key ON throttle_attempts (key, expires_at);
CREATE INDEX throttle_attempts_expiry ON throttle_attempts (expires_at);

-- One answer per client id URL: the document (JSON text) or why fetching it failed.
CREATE TABLE client_documents (
    client_id  TEXT PRIMARY KEY,
    document   TEXT,
    failure    TEXT,
    expires_at INTEGER NOT NULL,
    CHECK ((document IS NULL) <> (failure IS NULL))
) STRICT;
CREATE INDEX client_documents_expiry ON client_documents (expires_at);
