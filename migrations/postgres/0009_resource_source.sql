-- Which source owns a resource (issue 23): the CloudEvent source id of the client that created
-- it through the gRPC source API, or NULL for a resource created through the REST API, which
-- the hub's own `--source-id` owns. Set once at create; never changes.
--
-- Adding a nullable column without a default rewrites nothing. The index leaves out the NULL
-- rows, so REST creates (the bulk) pay no index entry for it; a source's list or subscription
-- reads its rows through it in creation order.
ALTER TABLE resources ADD COLUMN source TEXT;
CREATE INDEX resources_source_idx ON resources (source, created_at, id) WHERE source IS NOT NULL;
