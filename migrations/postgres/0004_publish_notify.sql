-- Every write of the outbox announces itself on channel `baton_publish`: the notification is
-- sent when the writing transaction commits (and dropped if it rolls back), by whichever
-- process wrote it, so every hub LISTENing on the database starts a publish round at once
-- instead of at its next poll. One call per statement, not per row: a batch of creates
-- notifies once, and identical notifications of one transaction are delivered once.
CREATE FUNCTION baton_publish_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('baton_publish', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER publish_outbox_notify
    AFTER INSERT OR UPDATE ON publish_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION baton_publish_notify();
