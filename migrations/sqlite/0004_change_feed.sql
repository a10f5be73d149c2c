-- The durable change feed (migrations/postgres/0006_change_feed.sql says what and why), on
-- SQLite written straight with its positions: one writer at a time commits in position order,
-- so no inbox and no sequencer are needed. Timestamps as in 0001 (fixed-width RFC 3339 UTC).
CREATE TABLE resource_changes (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id     TEXT NOT NULL,
    consumer_name   TEXT NOT NULL,
    name            TEXT,
    labels          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    -- The microseconds' last three digits are zeros: SQLite's clock gives milliseconds.
    at              TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX resource_changes_at_idx ON resource_changes (at);

-- One row: the newest position retention removed (older readers get 410 Gone).
CREATE TABLE resource_change_state (
    pruned_through  INTEGER NOT NULL
) STRICT;
INSERT INTO resource_change_state VALUES (0);

CREATE TRIGGER resources_change_added AFTER INSERT ON resources
BEGIN
    INSERT INTO resource_changes (resource_id, consumer_name, name, labels, kind)
        VALUES (NEW.id, NEW.consumer_name, NEW.name, NEW.labels, 'ADDED');
END;

CREATE TRIGGER resources_change_modified AFTER UPDATE ON resources
    WHEN NEW.version IS NOT OLD.version OR NEW.deleted_at IS NOT OLD.deleted_at
        OR NEW.status_hash IS NOT OLD.status_hash
BEGIN
    INSERT INTO resource_changes (resource_id, consumer_name, name, labels, kind)
        VALUES (NEW.id, NEW.consumer_name, NEW.name, NEW.labels, 'MODIFIED');
END;

CREATE TRIGGER resources_change_deleted AFTER DELETE ON resources
BEGIN
    INSERT INTO resource_changes (resource_id, consumer_name, name, labels, kind)
        VALUES (OLD.id, OLD.consumer_name, OLD.name, OLD.labels, 'DELETED');
END;
