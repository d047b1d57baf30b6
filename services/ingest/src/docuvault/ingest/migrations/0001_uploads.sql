-- The upload ledger: one row per accepted file, written with its outbox event (DESIGN §4).
CREATE TABLE uploads (
    document_id  uuid PRIMARY KEY,
    owner_id     uuid NOT NULL,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL,
    sha256       char(64) NOT NULL,
    object_key   text NOT NULL UNIQUE,
    duplicate_of uuid,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);
-- the duplicate index: sha256 per owner
CREATE INDEX uploads_owner_sha256 ON uploads (owner_id, sha256, uploaded_at)
    WHERE deleted_at IS NULL;
