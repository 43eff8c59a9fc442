-- Outpost store schema, version 9: what a parked session's handler keeps between requests (a
-- log level, resource subscriptions…) as one JSON object, NULL until first written. Replaced
-- only by a compare-and-set on the text read (`replace_data`), so concurrent requests of one
-- session never lose each other's change.

ALTER TABLE mcp_sessions ADD COLUMN data TEXT;
