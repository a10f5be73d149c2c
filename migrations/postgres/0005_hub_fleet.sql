-- Several hub replicas on one database (docs/ha.md). Each replica keeps a row here while it
-- lives, refreshed by its heartbeat; a row whose heartbeat is older than the lease belongs to a
-- dead replica and is deleted by any live one, which releases that replica's consumers.
CREATE TABLE hub_instances (
    id            TEXT PRIMARY KEY,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The connection registry: which replica's built-in broker each cluster's agent is connected
-- to. The replica that sees an agent subscribe takes the row over and bumps `epoch`; a release
-- names the epoch it claimed, so a replica that saw the agent leave late cannot release the
-- newer claim of the replica the agent moved to. A replica publishes the pending changes of
-- the consumers it owns here, and only those.
CREATE TABLE consumer_connections (
    consumer_name    TEXT PRIMARY KEY,
    instance_id      TEXT REFERENCES hub_instances (id) ON DELETE SET NULL,
    epoch            BIGINT NOT NULL DEFAULT 1,
    connected_since  TIMESTAMPTZ,
    last_seen        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX consumer_connections_instance_idx ON consumer_connections (instance_id)
    WHERE instance_id IS NOT NULL;

-- Work that one replica at a time does (over MQTT, publishing the outbox and the periodic status
-- resync, which the broker fans out to every agent): the holder renews its lease; another
-- replica takes it over once it expired, or at once when the holder stops and deletes it.
CREATE TABLE hub_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
