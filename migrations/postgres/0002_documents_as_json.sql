-- The documents the hub only stores and shows (never queries inside) are kept as `json`: the
-- text exactly as the hub wrote it. Reading `jsonb` makes PostgreSQL rebuild the text of every
-- document on every read, which dominated listing large bundles (docs/benchmarks.md, "list");
-- `json` is returned as stored, and written without being parsed into jsonb's binary form.
-- `labels` and `annotations` stay `jsonb`: labels are filtered with `@>` through a GIN index.
-- SQLite stores every document as text already, so its schema does not change.
ALTER TABLE resources
    ALTER COLUMN manifests TYPE JSON USING manifests::json,
    ALTER COLUMN delete_option TYPE JSON USING delete_option::json,
    ALTER COLUMN manifest_configs TYPE JSON USING manifest_configs::json,
    ALTER COLUMN status TYPE JSON USING status::json;
