-- The SQLite twin of migrations/postgres/0009_resource_source.sql: which source owns a
-- resource, NULL for one created through the REST API (owned by the hub's `--source-id`).
ALTER TABLE resources ADD COLUMN source TEXT;
CREATE INDEX resources_source_idx ON resources (source, created_at, id) WHERE source IS NOT NULL;
