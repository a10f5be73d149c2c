-- The condition trigger (0008) reads `resource_conditions` by its primary key only, whatever the
-- statistics say. As a plain `NOT EXISTS`, the planner may turn it
-- into a hash anti join that reads all of `resource_conditions` on every status write: it does
-- when the table grew faster than autovacuum's ANALYZE (a fleet's first hour, a bulk import),
-- and then each write costs time in proportion to the whole fleet. A LATERAL subquery that
-- `OFFSET 0` keeps from being flattened can only be run per row, through the index, and with
-- sequential scans priced out (`enable_seqscan` off, for this function's statements only) the
-- stale delete below takes its rows by tuple id.
CREATE OR REPLACE FUNCTION baton_resource_conditions() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
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
    -- reason differs from the row it had (or that had no row).
    transitions AS (
        INSERT INTO resource_condition_history
            (resource_id, type, status, reason, message, observed_generation, at)
        SELECT r.id, r.type, r.status, r.reason, r.message, r.observed_generation, r.at
        FROM reported r LEFT JOIN LATERAL (
            SELECT rc.status, rc.reason FROM resource_conditions rc
            WHERE rc.resource_id = r.id AND rc.type = r.type OFFSET 0
        ) was ON true
        WHERE was.status IS DISTINCT FROM r.status OR was.reason IS DISTINCT FROM r.reason
        RETURNING resource_id
    ),
    kept AS (
        INSERT INTO resource_conditions (resource_id, type, status, reason)
        SELECT id, type, status, reason FROM reported
        ON CONFLICT (resource_id, type) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason
    ),
    -- The rows to drop are found through the index as above and deleted by their tuple ids: a
    -- DELETE joined on the key could again be planned as a scan of the whole table.
    dropped AS (
        DELETE FROM resource_conditions WHERE ctid = ANY (ARRAY(
            SELECT held.ctid FROM changed ch CROSS JOIN LATERAL (
                SELECT ctid, type FROM resource_conditions WHERE resource_id = ch.id OFFSET 0
            ) held
            WHERE NOT EXISTS (SELECT 1 FROM reported r WHERE r.id = ch.id AND r.type = held.type)
        ))
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
