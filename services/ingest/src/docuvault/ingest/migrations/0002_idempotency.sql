-- Idempotency-Key: the first answer to a key is kept (with a fingerprint of the body) and
-- replayed for the same key and body; written in the transaction of the uploads it created.
CREATE TABLE idempotency_keys (
    owner_id    uuid NOT NULL,
    key         text NOT NULL,
    fingerprint char(64),          -- null while the first request is still running
    status      integer,
    response    jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, key)
);
