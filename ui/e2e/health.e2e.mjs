// The consumers watch, the health fields and /history: a stopped agent turns its cluster red
// within the heartbeat window, and the resource page shows the condition history as a
// timeline. Run with `npm run e2e:health` (scripts/ui-test runs it).

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { ARTIFACTS, browser, configMap, openUi, startStack } from "./harness.mjs";

let stack;
let b;
let page;

before(async () => {
  stack = await startStack("health", { agents: ["edge-1", "edge-2"] });
  b = await browser();
  page = await openUi(b, stack);
}, { timeout: 60_000 });

after(async () => {
  await b?.close();
  await stack?.stop();
}, { timeout: 60_000 });

test("clusters update live from the consumers watch", { timeout: 60_000 }, async () => {
  await page.locator('tr[data-consumer="edge-2"] [data-health="healthy"]').waitFor();
  assert.equal((await page.locator("nav .live").textContent()).trim(), "live");
});

test("stopping an agent turns its cluster red within the heartbeat window", { timeout: 60_000 }, async () => {
  await stack.agents.get("edge-2").stop("SIGKILL");
  // The broker's heartbeat is 10 s; a dead stream is noticed within two.
  await page.locator('tr[data-consumer="edge-2"] [data-health="unhealthy"]').waitFor({ timeout: 25_000 });
  assert.equal(await page.locator('tr[data-consumer="edge-1"] [data-health]').getAttribute("data-health"), "healthy");
  await page.screenshot({ path: path.join(ARTIFACTS, "overview-unhealthy.png"), fullPage: true });
});

test("the resource page shows the condition history, newest first", { timeout: 60_000 }, async () => {
  const r = await stack.api("POST", "resources", configMap("edge-1", "flip"));
  await page.goto(`${stack.ui}/#/resources/${r.id}`);
  await page.locator('.timeline li[data-history-type="Applied"][data-history-status="True"]').waitFor({ timeout: 30_000 });
  const current = await stack.api("GET", `resources/${r.id}`);
  await stack.api("PUT", `resources/${r.id}`, { version: current.version, ...configMap("edge-1", "flip", "disk full"), consumer_name: undefined, name: undefined });
  const failed = page.locator('.timeline li[data-history-type="Applied"][data-history-status="False"]');
  await failed.waitFor({ timeout: 30_000 });
  assert.match(await failed.textContent(), /AppliedManifestWorkFailed/);
  // Newest first: the failure above the success it followed.
  const applied = await page
    .locator('.timeline li[data-history-type="Applied"]')
    .evaluateAll((els) => els.map((e) => e.getAttribute("data-history-status")));
  assert.deepEqual(applied, ["False", "True"]);
  await page.screenshot({ path: path.join(ARTIFACTS, "resource-history.png"), fullPage: true });
});
