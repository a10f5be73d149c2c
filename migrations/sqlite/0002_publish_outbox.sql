-- The publish marker moves out of `resources` into the same narrow outbox PostgreSQL has
-- (migrations/postgres/0003_publish_outbox.sql says why): one design on both backends.
--
-- A row here means: the resource's state at (version, deleting) is committed and not yet
-- accepted by the transport. It is written in the same transaction as every spec change or
-- delete, and deleted by the publisher only for a state at least as new as the one it
-- describes. No foreign key, as on PostgreSQL: the statements that delete resources delete
-- their outbox row too.
CREATE TABLE publish_outbox (
    resource_id TEXT PRIMARY KEY NOT NULL,
    version     INTEGER NOT NULL,
    deleting    INTEGER NOT NULL CHECK (deleting IN (0, 1)),
    -- The last change's time: the publisher takes the oldest first.
    queued_at   TEXT NOT NULL
) STRICT;
CREATE INDEX publish_outbox_queued_idx ON publish_outbox (queued_at);

INSERT INTO publish_outbox (resource_id, version, deleting, queued_at)
    SELECT id, version, deleted_at IS NOT NULL, updated_at FROM resources WHERE publish_pending = 1;

DROP INDEX resources_publish_pending_idx;
ALTER TABLE resources DROP COLUMN publish_pending;
