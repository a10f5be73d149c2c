-- Query by status and fleet health: the SQLite twin of migrations/postgres/0008_status_queries.sql
-- (which says what each part is for), same tables and columns. Row triggers instead of a
-- statement trigger; timestamps as in 0001.
ALTER TABLE resources ADD COLUMN status_version INTEGER;
UPDATE resources SET status_version = version WHERE status IS NOT NULL;
CREATE INDEX resources_pending_idx ON resources (consumer_name, updated_at)
    WHERE deleted_at IS NULL AND (status_version IS NULL OR status_version < version);
CREATE INDEX resources_deleting_idx ON resources (consumer_name, deleted_at)
    WHERE deleted_at IS NOT NULL;

ALTER TABLE consumers ADD COLUMN last_seen_at TEXT;

CREATE TABLE resource_conditions (
    resource_id  TEXT NOT NULL,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (resource_id, type)
) STRICT, WITHOUT ROWID;
CREATE INDEX resource_conditions_match_idx ON resource_conditions (type, status, resource_id);

CREATE TABLE resource_condition_history (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id          TEXT NOT NULL,
    type                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    reason               TEXT NOT NULL,
    message              TEXT NOT NULL,
    observed_generation  INTEGER NOT NULL,
    at                   TEXT NOT NULL
) STRICT;
CREATE INDEX resource_condition_history_resource_idx ON resource_condition_history (resource_id, id);

CREATE TRIGGER resources_conditions_written AFTER UPDATE OF status_hash ON resources
    WHEN NEW.status_hash IS NOT OLD.status_hash AND NEW.status IS NOT NULL
BEGIN
    INSERT INTO resource_condition_history
        (resource_id, type, status, reason, message, observed_generation, at)
    SELECT NEW.id, json_extract(c.value, '$.type'),
        COALESCE(json_extract(c.value, '$.status'), ''), COALESCE(json_extract(c.value, '$.reason'), ''),
        COALESCE(json_extract(c.value, '$.message'), ''),
        COALESCE(json_extract(c.value, '$.observedGeneration'), 0), NEW.status_updated_at
    FROM json_each(NEW.status, '$.conditions') AS c
    WHERE json_extract(c.value, '$.type') IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM resource_conditions rc WHERE rc.resource_id = NEW.id
            AND rc.type = json_extract(c.value, '$.type')
            AND rc.status = COALESCE(json_extract(c.value, '$.status'), '')
            AND rc.reason = COALESCE(json_extract(c.value, '$.reason'), ''));
    DELETE FROM resource_conditions WHERE resource_id = NEW.id;
    INSERT OR REPLACE INTO resource_conditions (resource_id, type, status, reason)
    SELECT NEW.id, json_extract(c.value, '$.type'), COALESCE(json_extract(c.value, '$.status'), ''),
        COALESCE(json_extract(c.value, '$.reason'), '')
    FROM json_each(NEW.status, '$.conditions') AS c
    WHERE json_extract(c.value, '$.type') IS NOT NULL;
    DELETE FROM resource_condition_history WHERE resource_id = NEW.id AND id <= (
        SELECT id FROM resource_condition_history WHERE resource_id = NEW.id
        ORDER BY id DESC LIMIT 1 OFFSET 100);
END;

CREATE TRIGGER resources_conditions_removed AFTER DELETE ON resources
BEGIN
    DELETE FROM resource_conditions WHERE resource_id = OLD.id;
    DELETE FROM resource_condition_history WHERE resource_id = OLD.id;
END;
