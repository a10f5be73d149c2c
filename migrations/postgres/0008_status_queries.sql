-- Query by status and fleet health (issue 21): what the status filters, the consumers' health
-- fields and the condition history read, kept in the transaction of the status write.
--
-- `status_version`: the resource version the stored status reports on (the work's generation
-- the agent applied), written by the status statements. A live resource whose current version
-- has no status yet is pending. Statuses stored before this migration are taken as reports on
-- the current version (which version they were about was not kept).
ALTER TABLE resources ADD COLUMN status_version BIGINT;
UPDATE resources SET status_version = version WHERE status IS NOT NULL;
-- The predicates repeat the filters' SQL (`store/queries.rs`), so the planner uses them.
CREATE INDEX resources_pending_idx ON resources (consumer_name, updated_at)
    WHERE deleted_at IS NULL AND (status_version IS NULL OR status_version < version);
CREATE INDEX resources_deleting_idx ON resources (consumer_name, deleted_at)
    WHERE deleted_at IS NOT NULL;

-- Agents' last event, recorded in batches by each hub (`hub::seen`), not per event.
ALTER TABLE consumers ADD COLUMN last_seen_at TIMESTAMPTZ;

-- The top-level conditions of each resource's stored status, one row per type: what
-- `condition=TYPE=STATUS` matches through an index instead of reading every status document.
CREATE TABLE resource_conditions (
    resource_id  UUID NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (resource_id, type)
);
CREATE INDEX resource_conditions_match_idx ON resource_conditions (type, status, resource_id);

-- Each change of a condition's status or reason, as the agent reported it; the newest 100 per
-- resource are kept.
CREATE TABLE resource_condition_history (
    id                   BIGSERIAL PRIMARY KEY,
    resource_id          UUID NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    type                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    reason               TEXT NOT NULL,
    message              TEXT NOT NULL,
    observed_generation  BIGINT NOT NULL,
    -- When the hub stored the report (the agent's lastTransitionTime stays in the status).
    at                   TIMESTAMPTZ NOT NULL
);
CREATE INDEX resource_condition_history_resource_idx ON resource_condition_history (resource_id, id);

-- Written by a statement trigger, as the change feed is (0007): every statement that changes a
-- status, in its own transaction, one set-based pass per statement (a batch of 500 statuses
-- is one call). Only rows whose status hash changed are read. The stored status is the hub's
-- rendering of a typed status (`conditions` an array of objects, `observedGeneration` an
-- integer), so the casts below cannot fail on an agent's input.
CREATE FUNCTION baton_resource_conditions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched UUID[];
BEGIN
    WITH changed AS (
        SELECT n.id, n.status_updated_at AS at, n.status::jsonb -> 'conditions' AS conditions
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.status_hash IS DISTINCT FROM o.status_hash AND n.status IS NOT NULL
    ),
    reported AS (
        SELECT DISTINCT ON (ch.id, c.type) ch.id, c.type, COALESCE(c.status, '') AS status,
            COALESCE(c.reason, '') AS reason, COALESCE(c.message, '') AS message,
            COALESCE(c."observedGeneration", 0) AS observed_generation, ch.at
        FROM changed ch CROSS JOIN LATERAL jsonb_to_recordset(
            CASE WHEN jsonb_typeof(ch.conditions) = 'array' THEN ch.conditions ELSE '[]'::jsonb END
        ) AS c(type TEXT, status TEXT, reason TEXT, message TEXT, "observedGeneration" BIGINT)
        WHERE c.type IS NOT NULL
    ),
    -- All parts read the table as the statement began: a transition is a type whose status or
    -- reason differs from the row it had.
    transitions AS (
        INSERT INTO resource_condition_history
            (resource_id, type, status, reason, message, observed_generation, at)
        SELECT r.id, r.type, r.status, r.reason, r.message, r.observed_generation, r.at
        FROM reported r
        WHERE NOT EXISTS (SELECT 1 FROM resource_conditions rc WHERE rc.resource_id = r.id
            AND rc.type = r.type AND rc.status = r.status AND rc.reason = r.reason)
        RETURNING resource_id
    ),
    kept AS (
        INSERT INTO resource_conditions (resource_id, type, status, reason)
        SELECT id, type, status, reason FROM reported
        ON CONFLICT (resource_id, type) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason
    ),
    dropped AS (
        DELETE FROM resource_conditions rc USING changed ch WHERE rc.resource_id = ch.id
            AND NOT EXISTS (SELECT 1 FROM reported r WHERE r.id = rc.resource_id AND r.type = rc.type)
    )
    SELECT array_agg(DISTINCT resource_id) INTO touched FROM transitions;
    IF touched IS NOT NULL THEN
        DELETE FROM resource_condition_history h USING (
            SELECT x.id FROM unnest(touched) AS t(resource_id) CROSS JOIN LATERAL (
                SELECT id FROM resource_condition_history WHERE resource_id = t.resource_id
                ORDER BY id DESC OFFSET 100
            ) x
        ) stale WHERE h.id = stale.id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER resources_conditions_written AFTER UPDATE ON resources
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION baton_resource_conditions();
