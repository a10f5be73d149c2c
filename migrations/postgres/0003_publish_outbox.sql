-- The publish marker moves out of `resources` into a narrow outbox (docs/benchmarks.md,
-- "create", change create-21). Clearing `resources.publish_pending` rewrote a whole resource
-- row (~3 KB with its documents) and, because the column is in the pending index's predicate,
-- added an entry to each of the table's six indexes, GIN included; and it row-locked the
-- resources the status writers were locking at the same moment. An outbox row is ~60 bytes
-- with two small indexes, and the publisher deleting it locks nothing in `resources`.
--
-- A row here means: the resource's state at (version, deleting) is committed and not yet
-- accepted by the transport. It is written in the same statement as every spec change or
-- delete (so a committed change is always published or still here), and deleted by the
-- publisher only for a state at least as new as the one it describes. No foreign key: the
-- statements that delete resources delete their outbox row too (a key check per create would
-- lock each new resource row again).
CREATE TABLE publish_outbox (
    resource_id UUID PRIMARY KEY,
    version     BIGINT NOT NULL,
    deleting    BOOLEAN NOT NULL,
    -- The last change's time: the publisher takes the oldest first.
    queued_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX publish_outbox_queued_idx ON publish_outbox (queued_at);

INSERT INTO publish_outbox (resource_id, version, deleting, queued_at)
    SELECT id, version, deleted_at IS NOT NULL, updated_at FROM resources WHERE publish_pending;

DROP INDEX resources_publish_pending_idx;
ALTER TABLE resources DROP COLUMN publish_pending;

-- Room in each page for the row's next version: the status write (the only update most rows
-- get, and it changes no indexed column) can then be a HOT update, with no new index entry.
ALTER TABLE resources SET (fillfactor = 70);
