-- Wake-ups leave the write transactions: a NOTIFY inside one takes a global lock at pre-commit
-- that is held until the commit (WAL flush included) ends, so every notifying transaction
-- committed one at a time. The hub now announces its commits itself, after them, on a
-- connection of its own (src/store/wakeup.rs). The change feed's inbox triggers stay.
DROP TRIGGER publish_outbox_notify ON publish_outbox;
DROP FUNCTION baton_publish_notify();
DROP TRIGGER resource_change_inbox_notify ON resource_change_inbox;
DROP FUNCTION baton_change_notify();
