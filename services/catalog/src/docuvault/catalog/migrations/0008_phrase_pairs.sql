-- Two-word phrases at a million documents (issue 8). The GIN index keeps no word positions, so
-- for "united states" PostgreSQL read and checked every document holding both words, a third of
-- all documents for two common ones. Each document now also keeps the set of its adjacent
-- lexeme pairs ('unit state'), indexed: a phrase's pairs must all be among them, and nearly
-- only the documents holding the phrase pass (search.pair_sql; the phrase check itself stays).
-- The pairs are taken from the very vector search_vector is (a generated column cannot read
-- another one), so they agree with it on stemming, stop words and positions. The function is
-- in public whatever schema the migration runs in (a rebuild migrates a scratch schema that is
-- dropped afterwards: the function must outlive it).
CREATE OR REPLACE FUNCTION public.lexeme_pairs(vector tsvector) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (
        SELECT coalesce(array_to_tsvector(array_agg(DISTINCT p.previous || ' ' || p.lexeme)),
                        ''::tsvector)
          FROM (SELECT u.lexeme, o.position,
                       lag(u.lexeme) OVER w AS previous,
                       lag(o.position) OVER w AS previous_position
                  FROM unnest(vector) AS u, unnest(u.positions) AS o(position)
                WINDOW w AS (ORDER BY o.position)) AS p
         WHERE p.previous_position = p.position - 1
    );

ALTER TABLE documents
    ADD COLUMN search_pairs tsvector GENERATED ALWAYS AS (
        public.lexeme_pairs(
            to_tsvector('simple'::regconfig, coalesce(filename, ''))
            || to_tsvector(search_config, coalesce(search_text, ''))
        )
    ) STORED;
CREATE INDEX documents_search_pairs ON documents USING gin (search_pairs);
