-- The pending resources in a table of their own: the SQLite twin of
-- migrations/postgres/0012_resource_pending.sql (which says why), with row triggers.
CREATE TABLE resource_pending (
    resource_id    TEXT PRIMARY KEY NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    consumer_name  TEXT NOT NULL,
    since          TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX resource_pending_consumer_idx ON resource_pending (consumer_name, since);

INSERT INTO resource_pending (resource_id, consumer_name, since)
    SELECT id, consumer_name, updated_at FROM resources
    WHERE deleted_at IS NULL AND (status_version IS NULL OR status_version < version);
DROP INDEX resources_pending_idx;

CREATE TRIGGER resources_pending_added AFTER INSERT ON resources
    WHEN NEW.deleted_at IS NULL AND (NEW.status_version IS NULL OR NEW.status_version < NEW.version)
BEGIN
    INSERT INTO resource_pending (resource_id, consumer_name, since)
        VALUES (NEW.id, NEW.consumer_name, NEW.updated_at);
END;

CREATE TRIGGER resources_pending_modified
    AFTER UPDATE OF version, deleted_at, status_version, updated_at ON resources
BEGIN
    DELETE FROM resource_pending WHERE resource_id = NEW.id
        AND NOT (NEW.deleted_at IS NULL AND (NEW.status_version IS NULL OR NEW.status_version < NEW.version));
    INSERT INTO resource_pending (resource_id, consumer_name, since)
        SELECT NEW.id, NEW.consumer_name, NEW.updated_at
        WHERE NEW.deleted_at IS NULL AND (NEW.status_version IS NULL OR NEW.status_version < NEW.version)
        ON CONFLICT (resource_id) DO UPDATE SET since = excluded.since;
END;
