-- Encryption at rest of the signing keys and the request-state keys. A key's secret column
-- holds either the secret in the clear (`sealed_with` NULL) or its sealed form — nonce,
-- ciphertext, tag — with `sealed_with` naming the key-encryption key that sealed it.
--
-- signing_keys is rebuilt: its private key becomes a BLOB (sealed bytes are not text); the
-- PEM already stored moves over as its UTF-8 bytes, in the clear, and is sealed on the first
-- start with a key-encryption key.

CREATE TABLE signing_keys_at_rest (
    kid          TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    private_key  BLOB NOT NULL,
    sealed_with  TEXT,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER
) STRICT;

INSERT INTO signing_keys_at_rest (kid, algorithm, private_key, sealed_with, created_at, retired_at)
SELECT kid, algorithm, CAST(private_key_pem AS BLOB), NULL, created_at, retired_at
FROM signing_keys;

DROP TABLE signing_keys;

ALTER TABLE signing_keys_at_rest RENAME TO signing_keys;

ALTER TABLE request_state_keys ADD COLUMN sealed_with TEXT;
