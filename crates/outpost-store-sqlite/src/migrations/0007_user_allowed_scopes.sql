-- The scopes beyond the server's baseline (its default scope) each user may be granted, as
-- space-separated scope tokens (`mcp:admin`). Existing users get none: the baseline only, until
-- an operator grants more (`outpost users set-scopes NAME mcp:admin`).

ALTER TABLE users ADD COLUMN allowed_scopes TEXT NOT NULL DEFAULT '';
