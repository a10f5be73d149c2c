// Drives every operation of a running hub through a TypeScript client: the types openapi-typescript
// generated from its document and openapi-fetch (scripts/contract compiles this with tsc, so a
// call the document does not allow fails to build). Create, get, list with paging and filters,
// patch, update with a stale version (409), delete; and Maestro's paths (docs/maestro.md) over
// the same data. Exits non-zero on the first surprise.
//
// Usage: node generated/dist/drive.js BASE_URL

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

type Manifest = components["schemas"]["Manifest"];
type ErrorBody = components["schemas"]["ErrorBody"];
type MaestroError = components["schemas"]["maestro.Error"];

const base = process.argv[2];
if (!base) throw new Error("usage: node drive.js BASE_URL");
const client = createClient<paths>({ baseUrl: base });

const operations = new Set<string>();
let calls = 0;

/** One request's outcome: its status must be `status`; gives the success or error body. */
async function expect<T, E>(
  operation: string,
  status: number,
  request: Promise<{ data?: T; error?: E; response: Response }>,
): Promise<{ data: T; error: E }> {
  const { data, error, response } = await request;
  calls += 1;
  operations.add(operation);
  if (response.status !== status) {
    throw new Error(`${operation}: expected ${status}, got ${response.status} ${JSON.stringify(error ?? data)}`);
  }
  return { data: data as T, error: error as E };
}

function check(condition: boolean, what: string, value: unknown): void {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(value)}`);
}

function configmap(name: string, value: string): Manifest {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { value } } as Manifest;
}

function isError(body: ErrorBody, code: string): boolean {
  return body.kind === "Error" && body.code === code && body.operation_id.length > 0;
}

async function main(): Promise<void> {
  const run = Math.random().toString(16).slice(2, 10);
  const [a, b] = [`ts-${run}-a`, `ts-${run}-b`];
  const consumerPath = "/api/v1/consumers/{id_or_name}" as const;
  const resourcePath = "/api/v1/resources/{id}" as const;

  const created = await expect("create_consumer", 201,
    client.POST("/api/v1/consumers", { body: { name: a, labels: { env: "contract" } } }));
  check(created.data.name === a && created.data.labels.env === "contract", "created", created.data);
  await expect("create_consumer", 201, client.POST("/api/v1/consumers", { body: { name: b } }));
  const taken = await expect("create_consumer", 409, client.POST("/api/v1/consumers", { body: { name: a } }));
  check(isError(taken.error, "conflict"), "name taken", taken.error);
  const bad = await expect("create_consumer", 400, client.POST("/api/v1/consumers", { body: { name: "Not_A_Name" } }));
  check(isError(bad.error, "invalid-field") && bad.error.field === "name", "bad name", bad.error);

  const byName = await expect("get_consumer", 200,
    client.GET(consumerPath, { params: { path: { id_or_name: a } } }));
  check(byName.data.id === created.data.id, "by name", byName.data);
  const byId = await expect("get_consumer", 200,
    client.GET(consumerPath, { params: { path: { id_or_name: created.data.id } } }));
  check(byId.data.name === a, "by id", byId.data);

  const first = await expect("list_consumers", 200,
    client.GET("/api/v1/consumers", { params: { query: { page: 1, size: 1, order_by: "created_at", direction: "asc" } } }));
  check(first.data.total >= 2 && first.data.items.length === 1, "first page", first.data);
  const last = await expect("list_consumers", 200,
    client.GET("/api/v1/consumers", { params: { query: { page: first.data.total, size: 1 } } }));
  check(last.data.page === first.data.total && last.data.items.length === 1, "last page", last.data);

  const patched = await expect("patch_consumer", 200,
    client.PATCH(consumerPath, { params: { path: { id_or_name: a } }, body: { labels: { env: "prod", team: "a" } } }));
  check(JSON.stringify(patched.data.labels) === '{"env":"prod","team":"a"}', "patched", patched.data);

  const web = await expect("create_resource", 201, client.POST("/api/v1/resources", {
    body: { consumer_name: a, name: "web", manifests: [configmap("web", "1")], labels: { app: "web" } },
  }));
  check(web.data.version === 1 && web.data.status == null, "created resource", web.data);
  await expect("create_resource", 201, client.POST("/api/v1/resources", {
    body: { consumer_name: a, name: "db", manifests: [configmap("db", "1")], labels: { app: "db" } },
  }));
  const nobody = await expect("create_resource", 404, client.POST("/api/v1/resources", {
    body: { consumer_name: `ts-${run}-none`, manifests: [configmap("x", "1")] },
  }));
  check(isError(nobody.error, "not-found"), "unknown consumer", nobody.error);

  const got = await expect("get_resource", 200, client.GET(resourcePath, { params: { path: { id: web.data.id } } }));
  check(got.data.name === "web" && got.data.manifests.length === 1, "got", got.data);

  const listed = await expect("list_resources", 200, client.GET("/api/v1/resources", {
    params: { query: { consumer_name: a, order_by: "name", direction: "desc" } },
  }));
  check(listed.data.items.map((r) => r.name).join() === "web,db" && listed.data.total === 2, "listed", listed.data);
  const page2 = await expect("list_resources", 200, client.GET("/api/v1/resources", {
    params: { query: { consumer_name: a, order_by: "name", page: 2, size: 1 } },
  }));
  check(page2.data.items.map((r) => r.name).join() === "web", "page 2", page2.data);
  const byLabel = await expect("list_resources", 200, client.GET("/api/v1/resources", {
    params: { query: { consumer_name: a, labels: "app=db" } },
  }));
  check(byLabel.data.items.map((r) => r.name).join() === "db", "by label", byLabel.data);
  const byResourceName = await expect("list_resources", 200, client.GET("/api/v1/resources", {
    params: { query: { consumer_name: a, name: "web" } },
  }));
  check(byResourceName.data.items.length === 1 && byResourceName.data.items[0].id === web.data.id, "by name", byResourceName.data);

  const update = { version: 1, manifests: [configmap("web", "2")], labels: { app: "web" } };
  const updated = await expect("put_resource", 200,
    client.PUT(resourcePath, { params: { path: { id: web.data.id } }, body: update }));
  check(updated.data.version === 2, "updated", updated.data);
  const stale = await expect("put_resource", 409,
    client.PUT(resourcePath, { params: { path: { id: web.data.id } }, body: update }));
  check(isError(stale.error, "conflict"), "stale version", stale.error);

  const deleting = await expect("delete_resource", 202,
    client.DELETE(resourcePath, { params: { path: { id: web.data.id } } }));
  check(deleting.data.deleted_at != null, "deleting", deleting.data);
  const inUse = await expect("delete_consumer", 409,
    client.DELETE(consumerPath, { params: { path: { id_or_name: a } } }));
  check(isError(inUse.error, "conflict"), "consumer in use", inUse.error);
  await expect("delete_consumer", 204, client.DELETE(consumerPath, { params: { path: { id_or_name: b } } }));
  await expect("get_consumer", 404, client.GET(consumerPath, { params: { path: { id_or_name: b } } }));

  await maestro(run, a, listed.data.items[1].id);

  const all = ["maestro_create_consumer", "maestro_list_consumers", "maestro_get_consumer",
    "maestro_patch_consumer", "maestro_delete_consumer", "maestro_list_bundles", "maestro_get_bundle",
    "maestro_delete_bundle", "create_consumer", "list_consumers", "get_consumer", "patch_consumer", "delete_consumer",
    "create_resource", "list_resources", "get_resource", "put_resource", "delete_resource"];
  const missing = all.filter((op) => !operations.has(op));
  check(missing.length === 0, "operations never called", missing);
  console.log(`typescript client: ${operations.size} of ${all.length} operations, ${calls} calls, all as expected`);
}

/** Maestro's paths: its consumers, and the resources created above as resource bundles. */
async function maestro(run: string, consumer: string, dbId: string): Promise<void> {
  const name = `ts-${run}-m`;
  const byId = "/api/maestro/v1/consumers/{id}" as const;
  const bundle = "/api/maestro/v1/resource-bundles/{id}" as const;
  const isMaestroError = (body: MaestroError, code: string) => body.kind === "Error" && body.code === code;

  const m = await expect("maestro_create_consumer", 201,
    client.POST("/api/maestro/v1/consumers", { body: { name, labels: { env: "maestro" } } }));
  check(m.data.kind === "Consumer" && m.data.href === `/api/maestro/v1/consumers/${m.data.id}`, "maestro consumer", m.data);
  const taken = await expect("maestro_create_consumer", 409,
    client.POST("/api/maestro/v1/consumers", { body: { name } }));
  check(isMaestroError(taken.error, "maestro-6"), "maestro name taken", taken.error);
  const got = await expect("maestro_get_consumer", 200, client.GET(byId, { params: { path: { id: m.data.id } } }));
  check(got.data.name === name, "maestro get", got.data);
  const found = await expect("maestro_list_consumers", 200, client.GET("/api/maestro/v1/consumers", {
    params: { query: { search: `name = '${name}' and labels->>'env' = 'maestro'` } },
  }));
  check(found.data.kind === "ConsumerList" && found.data.items.length === 1, "maestro search", found.data);
  const bad = await expect("maestro_list_consumers", 400, client.GET("/api/maestro/v1/consumers", {
    params: { query: { search: "name like 'x%'" } },
  }));
  check(isMaestroError(bad.error, "maestro-23") && bad.error.field === "search", "maestro bad search", bad.error);
  const patched = await expect("maestro_patch_consumer", 200,
    client.PATCH(byId, { params: { path: { id: m.data.id } }, body: { labels: { env: "dev" } } }));
  check(patched.data.labels?.env === "dev", "maestro patched", patched.data);

  const bundles = await expect("maestro_list_bundles", 200, client.GET("/api/maestro/v1/resource-bundles", {
    params: { query: { search: `consumer_name = '${consumer}' and source = 'baton'`, orderBy: "name asc" } },
  }));
  // `web` is being deleted: with no agent to confirm, the hub may already have removed it.
  check(bundles.data.items.some((b) => b.name === "db"), "maestro bundles", bundles.data);
  const db = await expect("maestro_get_bundle", 200, client.GET(bundle, { params: { path: { id: dbId } } }));
  check((db.data.metadata as Record<string, unknown>).namespace === consumer && db.data.version === 1, "maestro bundle", db.data);
  await expect("maestro_delete_bundle", 204, client.DELETE(bundle, { params: { path: { id: dbId } } }));
  await expect("maestro_delete_consumer", 204, client.DELETE(byId, { params: { path: { id: m.data.id } } }));
  await expect("maestro_get_consumer", 404, client.GET(byId, { params: { path: { id: m.data.id } } }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
