-- The SQLite twin of migrations/postgres/0001_initial.sql: same tables, columns and
-- constraints. STRICT tables enforce the column types. Ids are hyphenated UUID text, JSON
-- columns hold JSON text, timestamps are fixed-width RFC 3339 UTC text with microseconds
-- (2026-01-01T00:00:00.000000Z), so that text order is time order.

-- Consumers are the managed clusters; their name is the cluster name on the wire.
CREATE TABLE consumers (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    labels      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- Resources are manifest bundles (ManifestWorks); id is the resourceid on the wire.
CREATE TABLE resources (
    id                  TEXT PRIMARY KEY NOT NULL,
    consumer_id         TEXT NOT NULL REFERENCES consumers (id),
    consumer_name       TEXT NOT NULL,
    name                TEXT,
    version             INTEGER NOT NULL CHECK (version >= 1 AND version <= 2147483647),
    manifests           TEXT NOT NULL CHECK (json_valid(manifests)),
    delete_option       TEXT CHECK (delete_option IS NULL OR json_valid(delete_option)),
    manifest_configs    TEXT CHECK (manifest_configs IS NULL OR json_valid(manifest_configs)),
    labels              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels)),
    annotations         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(annotations)),
    status              TEXT CHECK (status IS NULL OR json_valid(status)),
    status_hash         TEXT,
    status_sequence_id  TEXT,
    status_updated_at   TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT,
    -- Reliable publishing: set in the same statement as every spec change or delete, cleared
    -- by the publisher only once the transport accepted that exact state (version, deleted_at).
    publish_pending     INTEGER NOT NULL DEFAULT 1 CHECK (publish_pending IN (0, 1)),
    UNIQUE (consumer_id, name)
) STRICT;

CREATE INDEX resources_consumer_name_idx ON resources (consumer_name, created_at, id);
CREATE INDEX resources_created_idx ON resources (created_at, id);
CREATE INDEX resources_publish_pending_idx ON resources (updated_at) WHERE publish_pending = 1;
