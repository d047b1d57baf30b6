-- Security (issue 9).
--
-- 1. The audit trail is append-only for every role but its owner (the migration role): the
--    app role keeps INSERT and SELECT only (it is not the owner: no DROP, no ALTER either),
--    and a trigger refuses UPDATE, DELETE and TRUNCATE to anyone, the owner included (only
--    `catalog rebuild`, as the owner, swaps whole tables; it copies these grants).
DO $$
DECLARE
    grantee_name text;
BEGIN
    FOR grantee_name IN
        SELECT DISTINCT g.grantee
          FROM information_schema.role_table_grants g
          JOIN pg_tables t ON t.schemaname = g.table_schema AND t.tablename = g.table_name
         WHERE g.table_schema = current_schema() AND g.table_name = 'audit_trail'
           AND g.grantee <> t.tableowner
    LOOP
        EXECUTE format(
            'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_trail FROM %I',
            grantee_name);
    END LOOP;
END
$$;

-- in public whatever schema the migration runs in (a rebuild migrates a scratch schema that
-- is dropped afterwards: the function must outlive it)
CREATE OR REPLACE FUNCTION public.docuvault_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_trail_append_only
    BEFORE UPDATE OR DELETE ON audit_trail
    FOR EACH ROW EXECUTE FUNCTION public.docuvault_append_only();
CREATE TRIGGER audit_trail_no_truncate
    BEFORE TRUNCATE ON audit_trail
    FOR EACH STATEMENT EXECUTE FUNCTION public.docuvault_append_only();

-- GET /v1/audit: newest first, filtered by actor or action
CREATE INDEX audit_trail_owner_time ON audit_trail (owner_id, time DESC, event_id DESC);
CREATE INDEX audit_trail_action_time ON audit_trail (action, time DESC, event_id DESC);
CREATE INDEX audit_trail_time_id ON audit_trail (time DESC, event_id DESC);

-- 2. Revoked tokens: the catalog's own deny-list (POST /v1/tokens/revoke writes it in the
--    transaction of its auth.token_revoked.v1), kept until the token would have expired.
CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    owner_id   uuid,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);
