-- Outpost store schema, version 10: sessions that count against the session caps
-- (`--max-sessions`, `--max-sessions-per-subject`), made by `create_counted` only, which
-- counts the live ones (in total and by owner) and inserts in one write transaction.

ALTER TABLE mcp_sessions ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;

CREATE INDEX mcp_sessions_counted_by_owner ON mcp_sessions (owner, expires_at) WHERE counted = 1;
CREATE INDEX mcp_sessions_counted_by_expiry ON mcp_sessions (expires_at) WHERE counted = 1;
