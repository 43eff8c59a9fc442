-- The keys that seal MRTR (SEP-2322) requestState values, shared by every instance on this
-- store. `secret` is the HMAC key material (at least 32 bytes; a BLOB, so that encryption at
-- rest can store its sealed form here). A key is published at `created_at` and seals from
-- `activates_at`; it is deleted some time after a later key has activated. Times are unix
-- seconds.

CREATE TABLE request_state_keys (
    kid          TEXT PRIMARY KEY,
    secret       BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER NOT NULL
) STRICT;
