-- Listing filters of issue 8 at a million documents: has_failure, duplicate_of and a filename
-- substring (pg_trgm). Every listing query is of live documents (deleted_at IS NULL).
--
-- has_failure=true: failures are few, so a partial index holds them alone, in upload order
-- (the default sort); its predicate is spelt as listing.FAILED_SQL, which the planner must see
-- implied by the query. has_failure=false is nearly every document: the indexes of 0006 serve.
CREATE INDEX documents_owner_failed ON documents
    (owner_id, (COALESCE(uploaded_at, '-infinity'::timestamptz)), document_id)
    WHERE deleted_at IS NULL AND status IN ('extraction_failed', 'classification_failed');
-- duplicate_of: the duplicates of one document are few; most documents are none
CREATE INDEX documents_owner_duplicate_of ON documents (owner_id, duplicate_of)
    WHERE duplicate_of IS NOT NULL AND deleted_at IS NULL;

-- filename: `lower(filename) ILIKE '%…%'` is served by a trigram index. The extension is
-- created by the superuser (infra/postgres/roles.sql), never by the catalog's roles; its
-- operator class is named with the extension's schema, as a rebuild migrates a schema of its
-- own whose search_path may not reach it.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    SELECT n.nspname INTO trgm_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the PostgreSQL extension pg_trgm is missing in database %',
            current_database()
            USING HINT = 'a superuser creates it (CREATE EXTENSION pg_trgm), as'
                ' infra/postgres/roles.sql does; then migrate again';
    END IF;
    EXECUTE format(
        'CREATE INDEX documents_filename_trgm ON documents'
        ' USING gin (lower(filename) %I.gin_trgm_ops) WHERE deleted_at IS NULL',
        trgm_schema);
END
$$;
