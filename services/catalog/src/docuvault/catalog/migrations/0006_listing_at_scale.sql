-- Listing at a million documents (issue 8): one index per sort key on the very expression
-- listing.SORT_SQL orders by (never NULL, for keyset comparisons), so that a page — however
-- deep its cursor — and the relevance window (the newest matches) read about as many index
-- entries as they return. Only live documents are listed.
DROP INDEX IF EXISTS documents_owner_uploaded;
CREATE INDEX documents_owner_uploaded ON documents
    (owner_id, (COALESCE(uploaded_at, '-infinity'::timestamptz)), document_id)
    WHERE deleted_at IS NULL;
CREATE INDEX documents_owner_filename ON documents
    (owner_id, (COALESCE(lower(filename), '')), document_id) WHERE deleted_at IS NULL;
CREATE INDEX documents_owner_size ON documents
    (owner_id, (COALESCE(size_bytes, -1)), document_id) WHERE deleted_at IS NULL;
CREATE INDEX documents_owner_pages ON documents
    (owner_id, (COALESCE(page_count, -1)), document_id) WHERE deleted_at IS NULL;
