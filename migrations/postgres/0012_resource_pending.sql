-- Which live resources wait for a status on the version the hub holds ("pending", what
-- `state=pending` and the consumers' health read), kept in a narrow table beside `resources`
-- instead of a partial index on it. An index whose predicate reads `status_version` made every
-- status write a non-HOT update: a new entry in each of `resources`' indexes, GIN included, for
-- a write that changes no indexed column. With it gone, and room left on each page for the new
-- row version (fillfactor), most status writes are HOT updates.
CREATE TABLE resource_pending (
    resource_id    UUID PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    consumer_name  TEXT NOT NULL,
    -- The resource's `updated_at` (when its current version was written).
    since          TIMESTAMPTZ NOT NULL
);
CREATE INDEX resource_pending_consumer_idx ON resource_pending (consumer_name, since);

INSERT INTO resource_pending (resource_id, consumer_name, since)
    SELECT id, consumer_name, updated_at FROM resources
    WHERE deleted_at IS NULL AND (status_version IS NULL OR status_version < version);
DROP INDEX resources_pending_idx;
ALTER TABLE resources SET (fillfactor = 75);

-- Statement triggers as in 0007 and 0008; by key only, whatever the statistics say (0011).
CREATE FUNCTION baton_resource_pending_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO resource_pending (resource_id, consumer_name, since)
        SELECT id, consumer_name, updated_at FROM new_rows
        WHERE deleted_at IS NULL AND (status_version IS NULL OR status_version < version);
    RETURN NULL;
END;
$$;

CREATE FUNCTION baton_resource_pending_modified() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
    DELETE FROM resource_pending WHERE resource_id = ANY (ARRAY(
        SELECT id FROM new_rows
        WHERE NOT (deleted_at IS NULL AND (status_version IS NULL OR status_version < version))));
    INSERT INTO resource_pending (resource_id, consumer_name, since)
        SELECT id, consumer_name, updated_at FROM new_rows
        WHERE deleted_at IS NULL AND (status_version IS NULL OR status_version < version)
        ON CONFLICT (resource_id) DO UPDATE SET since = EXCLUDED.since
        WHERE resource_pending.since IS DISTINCT FROM EXCLUDED.since;
    RETURN NULL;
END;
$$;

CREATE TRIGGER resources_pending_added AFTER INSERT ON resources
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION baton_resource_pending_added();
CREATE TRIGGER resources_pending_modified AFTER UPDATE ON resources
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION baton_resource_pending_modified();
