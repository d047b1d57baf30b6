-- The catalog's read model (DESIGN §1). Event payloads are kept as jsonb; the columns after
-- them are derived on every write, for filtering, sorting and search.
CREATE TABLE documents (
    document_id         uuid PRIMARY KEY,
    owner_id            uuid NOT NULL,
    uploaded            jsonb,
    uploaded_at         timestamptz,
    generation          integer NOT NULL DEFAULT 1,
    extract_generation  integer NOT NULL DEFAULT 0,
    extract_state       text,
    text_extracted      jsonb,
    extract_failure     jsonb,
    classify_generation integer NOT NULL DEFAULT 0,
    classify_state      text,
    classifier_topics   jsonb NOT NULL DEFAULT '[]',
    suggestions         jsonb NOT NULL DEFAULT '[]',
    classify_failure    jsonb,
    classified_by       text,
    manual_topic_ids    uuid[],
    deleted_at          timestamptz,
    -- derived
    filename            text,
    content_type        text,
    size_bytes          bigint,
    sha256              text,
    duplicate_of        uuid,
    status              text NOT NULL DEFAULT 'received',
    page_count          integer,
    language            text,
    topic_ids           uuid[] NOT NULL DEFAULT '{}',
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_owner_uploaded ON documents (owner_id, uploaded_at DESC, document_id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX documents_topic_ids ON documents USING gin (topic_ids);

CREATE TABLE document_history (
    event_id    uuid PRIMARY KEY,
    document_id uuid NOT NULL,
    type        text NOT NULL,
    time        timestamptz NOT NULL
);
CREATE INDEX document_history_document ON document_history (document_id, time);

CREATE TABLE topics (
    topic_id    uuid PRIMARY KEY,
    owner_id    uuid NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    color       text,
    keywords    text[] NOT NULL DEFAULT '{}',
    match       jsonb NOT NULL DEFAULT '{"algorithm": "none", "pattern": "", "case_sensitive": false}',
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX topics_owner_name ON topics (owner_id, lower(name));

CREATE TABLE classification_settings (
    owner_id        uuid PRIMARY KEY,
    provider        text NOT NULL,
    system_prompt   text,
    apply_threshold double precision NOT NULL,
    version         integer NOT NULL
);

-- idempotency: one row per (consumer, event) applied, written in the projection's transaction
CREATE TABLE inbox (
    consumer    text NOT NULL,
    event_id    uuid NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE audit_trail (
    event_id       uuid PRIMARY KEY,
    owner_id       uuid,
    jti            text,
    action         text NOT NULL,
    target         text,
    remote_address text,
    result         text NOT NULL,
    time           timestamptz NOT NULL
);
CREATE INDEX audit_trail_time ON audit_trail (time DESC);
