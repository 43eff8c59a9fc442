-- Outpost store schema, version 2: Streamable HTTP MCP sessions, kept so that a session survives
-- a restart. `owner` is the token subject that created the session (NULL until recorded, and
-- without authentication); `state` is rmcp's SessionState as JSON (NULL until the handshake is
-- stored). Times are unix seconds; a session whose `expires_at` has passed is not resumed.

CREATE TABLE mcp_sessions (
    session_id TEXT PRIMARY KEY,
    owner      TEXT,
    state      TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX mcp_sessions_by_expiry ON mcp_sessions (expires_at);
