// The end-to-end harness: a real `baton serve` (embedded SQLite, built-in gRPC broker, an API
// token file), reference agents playing simulated clusters, a path-prefix proxy in front of the
// hub (the UI is opened at /baton/ui/, as behind an ingress that strips /baton), and headless
// Chromium (Debian's package, driven by playwright-core; no browser download).
//
// Environment: BATON_BIN (default ../target/debug/baton), CHROMIUM (default /usr/bin/chromium),
// UI_ARTIFACTS (screenshots; default ../target/ui-artifacts).

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
export const BIN = process.env.BATON_BIN ?? path.join(repo, "target/debug/baton");
export const ARTIFACTS = process.env.UI_ARTIFACTS ?? path.join(repo, "target/ui-artifacts");
export const TOKEN = "ui-e2e-token";
export const PREFIX = "/baton";
/** Every wait in these tests: conditions are awaited, never slept on. */
export const WAIT = 30_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls `cond` until it returns a truthy value; throws naming `what` after `ms`. */
export async function eventually(what, cond, ms = WAIT) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}${last ? ` (${last})` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

class Proc {
  constructor(args, log) {
    const out = openSync(log, "w");
    this.log = log;
    const env = { ...process.env, RUST_LOG: "info" };
    delete env.DATABASE_URL; // the embedded SQLite store, in the test's own directory
    this.child = spawn(BIN, args, { stdio: ["ignore", out, out], env });
    this.exited = new Promise((r) => this.child.once("exit", r));
  }
  /** `signal`, then SIGKILL if it has not exited within 15 s (the test then fails). */
  async stop(signal = "SIGTERM") {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await this.exited;
    clearTimeout(timer);
    if (signal === "SIGTERM" && this.child.signalCode === "SIGKILL") {
      throw new Error(`did not stop within 15 s of SIGTERM; log: ${this.log}`);
    }
  }
}

/** A proxy serving the hub under PREFIX; it can drop the watch streams and refuse new ones. */
function prefixProxy(hubPort) {
  const streams = new Set();
  const state = { refuseWatches: false, watchRequests: [] };
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith(PREFIX + "/")) {
      res.writeHead(404).end("outside the prefix");
      return;
    }
    const watch = /[?&]watch=true/.test(req.url);
    if (watch) {
      state.watchRequests.push({ url: req.url, lastEventId: req.headers["last-event-id"] ?? null });
      if (state.refuseWatches) {
        res.writeHead(503).end();
        return;
      }
    }
    const upstream = http.request(
      { host: "127.0.0.1", port: hubPort, method: req.method, path: req.url.slice(PREFIX.length), headers: { ...req.headers, "x-forwarded-prefix": PREFIX } },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
        if (watch) streams.add(res);
        res.on("close", () => {
          streams.delete(res);
          up.destroy(); // the client left: so does the hub's stream
        });
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  return {
    server,
    state,
    dropStreams() {
      for (const s of streams) s.destroy();
      streams.clear();
    },
  };
}

export async function startStack(name, { agents = [] } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), `baton-ui-${name}-`));
  mkdirSync(ARTIFACTS, { recursive: true });
  const tokenFile = path.join(dir, "tokens");
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const hub = new Proc(
    ["serve", "--data-dir", path.join(dir, "data"), "--http-addr", `127.0.0.1:${httpPort}`, "--grpc-addr", `127.0.0.1:${grpcPort}`, "--api-token-file", tokenFile],
    path.join(dir, "hub.log"),
  );
  const base = `http://127.0.0.1:${httpPort}`;
  await eventually(`hub ready (log ${hub.log})`, async () => (await fetch(`${base}/readyz`)).ok);
  const proxy = prefixProxy(httpPort);
  await new Promise((r) => proxy.server.listen(0, "127.0.0.1", r));
  const stack = {
    dir,
    base,
    hub,
    proxy,
    agents: new Map(),
    ui: `http://127.0.0.1:${proxy.server.address().port}${PREFIX}/ui`,
    async api(method, p, body) {
      const res = await fetch(`${base}/api/v1/${p}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    /** One agent process playing `cluster`, registered as a consumer first. */
    async agent(cluster) {
      await this.api("POST", "consumers", { name: cluster, labels: { env: cluster.endsWith("1") ? "prod" : "dev" } });
      const a = new Proc(["agent", "--cluster", cluster, "--grpc-url", `http://127.0.0.1:${grpcPort}`], path.join(dir, `agent-${cluster}.log`));
      this.agents.set(cluster, a);
      return a;
    },
    async stop() {
      proxy.dropStreams();
      proxy.server.closeAllConnections?.();
      proxy.server.close();
      await Promise.all([...this.agents.values()].map((a) => a.stop()));
      await hub.stop();
    },
  };
  for (const c of agents) await stack.agent(c);
  return stack;
}

export async function browser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    // Root in a container: Chromium's sandbox needs user namespaces it may not have.
    args: ["--no-sandbox"],
  });
}

/** A ConfigMap bundle; `error` makes the reference agent fail to apply it with that reason. */
export function configMap(consumer, name, error) {
  const annotations = error ? { "baton.io/simulate-apply-error": error } : {};
  return {
    consumer_name: consumer,
    name,
    labels: { app: name },
    manifests: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default", annotations }, data: { greeting: "hi\nthere\n" } }],
  };
}

/** Opens the UI and enters the token in the prompt. */
export async function openUi(b, stack, options = {}) {
  const page = await b.newPage({ viewport: { width: 1280, height: 800 }, ...options });
  const res = await page.goto(stack.ui); // no trailing slash: the hub redirects to ui/
  if (!res.ok()) throw new Error(`UI answered ${res.status()}`);
  await page.getByLabel("Token").fill(TOKEN);
  await page.getByRole("button", { name: "Use token" }).click();
  return page;
}
