-- Outpost store schema, migration 10: server-sent events of MCP streams, kept for Last-Event-ID: numbered by AUTOINCREMENT, so an
-- id is never given twice, even after the newest event was deleted.
CREATE TABLE mcp_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    appended_at INTEGER NOT NULL,
    data TEXT NOT NULL
) STRICT;
CREATE INDEX mcp_events_by_stream ON mcp_events (stream, id);
CREATE INDEX mcp_events_by_age ON mcp_events (appended_at);
