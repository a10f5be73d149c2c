-- Consumers are the managed clusters; their name is the cluster name on the wire.
CREATE TABLE consumers (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    labels      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Resources are manifest bundles (ManifestWorks); id is the resourceid on the wire.
CREATE TABLE resources (
    id                  UUID PRIMARY KEY,
    consumer_id         UUID NOT NULL REFERENCES consumers (id),
    consumer_name       TEXT NOT NULL,
    name                TEXT,
    version             BIGINT NOT NULL CHECK (version >= 1 AND version <= 2147483647),
    manifests           JSONB NOT NULL,
    delete_option       JSONB,
    manifest_configs    JSONB,
    labels              JSONB NOT NULL DEFAULT '{}'::jsonb,
    annotations         JSONB NOT NULL DEFAULT '{}'::jsonb,
    status              JSONB,
    status_hash         TEXT,
    status_sequence_id  TEXT,
    status_updated_at   TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at          TIMESTAMPTZ,
    -- Reliable publishing: set in the same statement as every spec change or delete, cleared
    -- by the publisher only once the transport accepted that exact state (version, deleted_at).
    publish_pending     BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (consumer_id, name)
);

CREATE INDEX resources_consumer_name_idx ON resources (consumer_name, created_at, id);
CREATE INDEX resources_created_idx ON resources (created_at, id);
CREATE INDEX resources_labels_idx ON resources USING GIN (labels jsonb_path_ops);
CREATE INDEX resources_publish_pending_idx ON resources (updated_at) WHERE publish_pending;
