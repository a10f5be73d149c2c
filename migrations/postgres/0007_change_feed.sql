-- The durable change feed that watches read (issue 21): every change of a resource row
-- (created, spec changed, marked deleting, status written, row removed) as a numbered event.
--
-- Written by triggers, so every statement that changes `resources`, today's and tomorrow's,
-- writes its events in its own transaction: a committed change always has its event, a rolled
-- back one never. Statement triggers with transition tables: one INSERT per statement (a
-- status batch of 500 rows adds one statement, not 500), and no lock on any `resources` row.
--
-- Two tables, because positions must follow commit order (a watcher that read position 10
-- must never later find a 9 committed after it) and a sequence alone follows call order.
-- Writers append to `resource_change_inbox` without coordination; the sequencer
-- (`PgStore::sequence_changes`) moves committed inbox rows into `resource_changes`, numbering
-- them under a lock on `resource_change_state`, one sequencer at a time across all replicas.
CREATE TABLE resource_change_inbox (
    id              BIGSERIAL PRIMARY KEY,
    resource_id     UUID NOT NULL,
    consumer_name   TEXT NOT NULL,
    -- The name and labels as the change left them: a watch filters on them, and a deleted
    -- resource has no row to read them from.
    name            TEXT,
    labels          JSONB NOT NULL,
    -- 'ADDED', 'MODIFIED' or 'DELETED', as the watch sends them.
    kind            TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE resource_changes (
    position        BIGINT PRIMARY KEY,
    resource_id     UUID NOT NULL,
    consumer_name   TEXT NOT NULL,
    name            TEXT,
    labels          JSONB NOT NULL,
    kind            TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX resource_changes_at_idx ON resource_changes (at);

-- One row: the last position given out, and the newest position retention removed (a reader
-- asking for changes after an older one has missed some: 410 Gone).
CREATE TABLE resource_change_state (
    last_position   BIGINT NOT NULL,
    pruned_through  BIGINT NOT NULL
);
INSERT INTO resource_change_state VALUES (0, 0);

CREATE FUNCTION baton_resource_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO resource_change_inbox (resource_id, consumer_name, name, labels, kind)
        SELECT id, consumer_name, name, labels, 'ADDED' FROM new_rows;
    RETURN NULL;
END;
$$;

-- Only what a watcher can see: a write that leaves version, deletion and status as they were
-- (a repeated delete) is no event.
CREATE FUNCTION baton_resource_modified() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO resource_change_inbox (resource_id, consumer_name, name, labels, kind)
        SELECT n.id, n.consumer_name, n.name, n.labels, 'MODIFIED' FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.version, n.deleted_at, n.status_hash) IS DISTINCT FROM (o.version, o.deleted_at, o.status_hash);
    RETURN NULL;
END;
$$;

CREATE FUNCTION baton_resource_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO resource_change_inbox (resource_id, consumer_name, name, labels, kind)
        SELECT id, consumer_name, name, labels, 'DELETED' FROM old_rows;
    RETURN NULL;
END;
$$;

CREATE TRIGGER resources_change_added AFTER INSERT ON resources
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION baton_resource_added();
CREATE TRIGGER resources_change_modified AFTER UPDATE ON resources
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION baton_resource_modified();
CREATE TRIGGER resources_change_deleted AFTER DELETE ON resources
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION baton_resource_deleted();

-- Announce each inbox write at commit, as publish_outbox does (0004): watchers on every hub
-- wake at once, whichever replica wrote.
CREATE FUNCTION baton_change_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('baton_changes', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER resource_change_inbox_notify AFTER INSERT ON resource_change_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION baton_change_notify();
