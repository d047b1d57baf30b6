-- Revoked tokens (issue 9): ingest's own deny-list, filled from auth.token_revoked.v1 and kept
-- until the token would have expired anyway; read at start and every second.
CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    owner_id   uuid,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);
