-- The outbox row names what to publish: 1 create, 2 update, 3 delete, as on PostgreSQL
-- (migrations/postgres/0006_publish_action.sql says why). SQLite cannot add a NOT NULL column
-- without a default, so the table is rebuilt.
CREATE TABLE publish_outbox_new (
    resource_id TEXT PRIMARY KEY NOT NULL,
    version     INTEGER NOT NULL,
    action      INTEGER NOT NULL CHECK (action IN (1, 2, 3)),
    -- The last change's time: the publisher takes the oldest first.
    queued_at   TEXT NOT NULL
) STRICT;

INSERT INTO publish_outbox_new (resource_id, version, action, queued_at)
    SELECT resource_id, version, CASE WHEN deleting = 1 THEN 3 WHEN version = 1 THEN 1 ELSE 2 END, queued_at
    FROM publish_outbox;

DROP TABLE publish_outbox;
ALTER TABLE publish_outbox_new RENAME TO publish_outbox;
CREATE INDEX publish_outbox_queued_idx ON publish_outbox (queued_at);
