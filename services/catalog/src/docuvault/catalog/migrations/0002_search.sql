-- Full-text search (DESIGN §5). The extracted text is kept for search and snippets up to
-- search.TEXT_CAP characters; the full text stays in the object store.
-- Each document is indexed with the text search configuration of its detected language
-- ('simple' when unknown), and its filename with 'simple' at a higher weight.
ALTER TABLE documents
    ADD COLUMN search_text   text,
    ADD COLUMN search_config regconfig NOT NULL DEFAULT 'simple',
    ADD COLUMN manual_version integer NOT NULL DEFAULT 0,
    ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(filename, '')), 'A')
        || setweight(to_tsvector(search_config, coalesce(search_text, '')), 'B')
    ) STORED;
CREATE INDEX documents_search ON documents USING gin (search_vector);
