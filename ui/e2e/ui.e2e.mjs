// The fleet view end to end, on what the hub serves today: the overview with connected
// clusters, a resource created through the API turning Applied live, an apply failure in red
// with its reason, the resource page, the banner when the watch drops and its resume with
// Last-Event-ID, keyboard navigation and a narrow window. Screenshots go to ARTIFACTS.
// (health.e2e.mjs holds what needs the consumers watch and /history.)

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { ARTIFACTS, browser, configMap, eventually, openUi, startStack } from "./harness.mjs";

let stack;
let b;
let page;

before(async () => {
  stack = await startStack("main", { agents: ["edge-1", "edge-2"] });
  b = await browser();
  page = await openUi(b, stack);
  // Set once; a reload would clear it.
  await page.evaluate(() => (window.__sameDocument = true));
}, { timeout: 60_000 });

after(async () => {
  await b?.close();
  await stack?.stop();
}, { timeout: 60_000 });

const sameDocument = () => page.evaluate(() => window.__sameDocument === true);
const row = (id) => page.locator(`tr[data-resource-id="${id}"]`);

test("the overview shows the connected clusters and totals", { timeout: 60_000 }, async () => {
  for (const c of ["edge-1", "edge-2"]) {
    const r = page.locator(`tr[data-consumer="${c}"]`);
    await r.locator('td[data-connected="true"]').waitFor();
    assert.equal(await r.locator("[data-health]").getAttribute("data-health"), "healthy");
  }
  await eventually("2 / 2 connected", async () => (await page.locator('[data-total="connected"]').textContent()).trim() === "2 / 2");
  await page.getByLabel("Label filter").fill("env=prod");
  await page.locator('tr[data-consumer="edge-2"]').waitFor({ state: "detached" });
  assert.equal(await page.locator("tr[data-consumer]").count(), 1);
  await page.getByLabel("Label filter").fill("");
  await page.screenshot({ path: path.join(ARTIFACTS, "overview.png"), fullPage: true });
});

test("a resource created through the API appears and turns Applied without reload", { timeout: 60_000 }, async () => {
  await page.getByRole("link", { name: "Resources", exact: true }).click();
  const created = await stack.api("POST", "resources", configMap("edge-1", "web"));
  await row(created.id).waitFor();
  await row(created.id).and(page.locator('[data-rollout="applied"]')).waitFor({ timeout: 30_000 });
  assert.match(await row(created.id).textContent(), /Applied: True.*Available: True/);
  assert.ok(await sameDocument(), "the page reloaded");
});

test("an apply failure shows in red with the agent's reason", { timeout: 60_000 }, async () => {
  const failed = await stack.api("POST", "resources", configMap("edge-2", "broken", "quota exceeded on edge-2"));
  const r = row(failed.id);
  await r.and(page.locator('[data-rollout="failed"]')).waitFor({ timeout: 30_000 });
  const reason = r.locator("[data-reason]");
  assert.equal((await reason.textContent()).trim(), "quota exceeded on edge-2");
  const [color, bad] = await reason.evaluate((el) => [
    getComputedStyle(el).color,
    getComputedStyle(document.documentElement).getPropertyValue("--bad").trim(),
  ]);
  assert.equal(bad, "#b3261e");
  assert.equal(color, "rgb(179, 38, 30)");
  // The condition filter narrows to it.
  await page.getByLabel("Condition").selectOption("Applied=False");
  await eventually("only the failure listed", async () => (await page.locator("tr[data-resource-id]").count()) === 1);
  assert.match(page.url(), /condition=Applied%3DFalse/);

  // Its page: the manifest as YAML, the per-manifest condition with the reason.
  await r.getByRole("link").click();
  const article = page.locator(`article[data-resource-id="${failed.id}"]`);
  await article.waitFor();
  const yaml = await article.locator("pre").textContent();
  assert.match(yaml, /^apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n/);
  assert.match(yaml, /\ndata:\n  greeting: \|\n    hi\n    there\n$/);
  assert.match(await article.locator(".manifest .conditions").textContent(), /Applied: False\s*AppliedManifestFailed: quota exceeded on edge-2/);
  await page.screenshot({ path: path.join(ARTIFACTS, "resource.png"), fullPage: true });
  assert.ok(await sameDocument());
});

test("a dropped watch shows a banner and resumes from the last event id", { timeout: 60_000 }, async () => {
  await page.getByRole("link", { name: "Resources", exact: true }).click();
  stack.proxy.state.refuseWatches = true;
  stack.proxy.dropStreams();
  await page.locator('[data-banner="reconnecting"]').waitFor();
  const during = await stack.api("POST", "resources", configMap("edge-1", "while-down"));
  stack.proxy.state.refuseWatches = false;
  const seen = stack.proxy.state.watchRequests.length;
  await page.locator('[data-banner="resumed"]').waitFor({ timeout: 30_000 });
  await row(during.id).waitFor();
  const resumed = stack.proxy.state.watchRequests.slice(seen).filter((w) => w.url.includes("/resources?"));
  assert.ok(resumed.length > 0 && resumed.every((w) => /^\d+$/.test(w.lastEventId ?? "")), JSON.stringify(resumed));
  assert.match(await page.locator("[data-banner]").textContent(), /resumed after event \d+/);
  assert.ok(await sameDocument());
});

test("keyboard only: the navigation is reachable and the skip link lands on the content", { timeout: 60_000 }, async () => {
  await page.goto(stack.ui + "/#/");
  await page.reload(); // focus starts at the top; the token stays (session storage)
  await page.locator("tr[data-consumer]").first().waitFor();
  await eventually("the failure counted", async () => (await page.locator('[data-total="failed"]').textContent()) === "1");
  await page.screenshot({ path: path.join(ARTIFACTS, "overview-with-resources.png"), fullPage: true });
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Resources");
  await page.keyboard.press("Enter");
  await page.waitForURL(/#\/resources$/);
});

test("a narrow window does not scroll sideways, dark follows the system", { timeout: 60_000 }, async () => {
  const narrow = await b.newPage({ viewport: { width: 360, height: 740 }, colorScheme: "dark" });
  await narrow.goto(stack.ui + "/");
  await narrow.getByLabel("Token").fill("ui-e2e-token");
  await narrow.getByRole("button", { name: "Use token" }).click();
  await narrow.locator('tr[data-consumer="edge-1"]').waitFor();
  await eventually("resources counted", async () => (await narrow.locator('[data-total="applied"]').textContent()) === "2");
  const [scroll, width, bg] = await narrow.evaluate(() => [
    document.documentElement.scrollWidth,
    innerWidth,
    getComputedStyle(document.body).backgroundColor,
  ]);
  assert.ok(scroll <= width, `page is ${scroll}px wide in a ${width}px window`);
  assert.equal(bg, "rgb(15, 18, 22)");
  await narrow.screenshot({ path: path.join(ARTIFACTS, "overview-narrow-dark.png"), fullPage: true });
  await narrow.close();
});
