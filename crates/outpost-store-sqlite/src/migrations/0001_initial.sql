-- Outpost store schema, version 1: users, OAuth clients, authorization codes, grants with their
-- refresh tokens, signing keys, consents. Times are unix seconds; codes and refresh tokens are
-- stored as SHA-256 hex, passwords and client secrets as argon2id PHC strings.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- ASCII-only names, so NOCASE makes uniqueness case-insensitive while the spelling is kept.
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    client_secret_hash         TEXT,
    client_name                TEXT,
    redirect_uris              TEXT NOT NULL, -- JSON array of strings
    grant_types                TEXT NOT NULL, -- JSON array of strings
    response_types             TEXT NOT NULL, -- JSON array of strings
    token_endpoint_auth_method TEXT NOT NULL
        CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
    application_type           TEXT NOT NULL CHECK (application_type IN ('web', 'native')),
    scope                      TEXT,
    created_at                 INTEGER NOT NULL
) STRICT;

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT,
    code_challenge TEXT NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX authorization_codes_user ON authorization_codes (user_id);
CREATE INDEX authorization_codes_client ON authorization_codes (client_id);

CREATE TABLE grants (
    grant_id   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    resource   TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_client ON grants (client_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    algorithm       TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    retired_at      INTEGER
) STRICT;

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;
CREATE INDEX consents_client ON consents (client_id);
