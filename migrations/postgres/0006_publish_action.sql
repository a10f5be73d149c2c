-- The outbox row names what to publish: 1 create, 2 update, 3 delete (store::PublishAction).
-- Inferred from the resource (`version = 1` for a create), a resource created and updated
-- before its first publish would go out as an update although no agent holds it. Each statement that queues a change now writes its action, and an update queued over a
-- create not yet published stays a create (store/postgres/outbox.rs, OUTBOX_UPSERT).
--
-- SMALLINT in place of the BOOLEAN `deleting`: both fit in the padding before `queued_at`, so
-- the narrow row does not grow.
ALTER TABLE publish_outbox ADD COLUMN action SMALLINT;
UPDATE publish_outbox SET action = CASE WHEN deleting THEN 3 WHEN version = 1 THEN 1 ELSE 2 END;
ALTER TABLE publish_outbox ALTER COLUMN action SET NOT NULL,
    ADD CONSTRAINT publish_outbox_action_check CHECK (action IN (1, 2, 3)),
    DROP COLUMN deleting;
