-- Everything in the read model is a function of the events (issue 4: rebuild from history).
-- Stage results remember their event's time: at an equal generation the later result wins,
-- whatever order the two arrive in. The classifier's topics come from the latest successful
-- classification (a later failure keeps them), which has its own generation and time.
ALTER TABLE documents
    ADD COLUMN extract_time      timestamptz,
    ADD COLUMN classify_time     timestamptz,
    ADD COLUMN topics_generation integer NOT NULL DEFAULT 0,
    ADD COLUMN topics_time       timestamptz;
UPDATE documents SET topics_generation = classify_generation
 WHERE classify_state = 'ok' OR classified_by IS NOT NULL;

-- A deleted topic is a tombstone with its last version, so that a late, older
-- topic.upserted.v1 cannot bring it back; its name is free for a new topic.
ALTER TABLE topics ADD COLUMN deleted_at timestamptz;
DROP INDEX topics_owner_name;
CREATE UNIQUE INDEX topics_owner_name ON topics (owner_id, lower(name)) WHERE deleted_at IS NULL;
