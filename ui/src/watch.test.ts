/// <reference types="node" />
// The watch loop against a real HTTP server (node:http) speaking the hub's watch protocol:
// resume with Last-Event-ID after a drop, a fresh start after 410, the token header, and the
// hubs that answer a page or 401.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { setToken } from "./api";
import { watch, type SseEvent, type WatchPhase } from "./sse";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let handlers: Handler[] = [];
const seen: { url: string; lastEventId?: string; auth?: string }[] = [];
let server: http.Server;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({
      url: req.url ?? "",
      lastEventId: req.headers["last-event-id"] as string | undefined,
      auth: req.headers.authorization,
    });
    const next = handlers.shift();
    if (next) next(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  // The browser globals the client reads: the page it runs on, and the tab's storage.
  const store = new Map<string, string>();
  Object.assign(globalThis, {
    location: { href: `http://127.0.0.1:${port}/prefix/ui/` },
    sessionStorage: {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => store.set(k, v),
      removeItem: (k: string) => store.delete(k),
    },
  });
});

afterAll(() => server.close());

beforeEach(() => {
  handlers = [];
  seen.length = 0;
  setToken(null);
});

const stream =
  (body: string, end = true): Handler =>
  (_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(body);
    if (end) res.end();
  };

function record(stop: AbortController, until: (events: SseEvent[]) => boolean) {
  const events: SseEvent[] = [];
  const opens: [boolean, string | null][] = [];
  const phases: WatchPhase[] = [];
  let unsupported = false;
  const done = watch(
    "resources?consumer_name=c1",
    {
      open: (resumed, after) => opens.push([resumed, after]),
      event: (ev) => {
        events.push(ev);
        if (until(events)) stop.abort();
      },
      phase: (p) => phases.push(p),
      unsupported: () => (unsupported = true),
    },
    stop.signal,
  );
  return { done, events, opens, phases, unsupported: () => unsupported };
}

describe("watch", () => {
  it("reconnects after a drop with the last event id, sending the token", async () => {
    setToken("s3cret");
    handlers = [
      stream("id: 1\nevent: ADDED\ndata: {}\n\nid: 2\nevent: MODIFIED\ndata: {}\n\n"),
      stream("id: 3\nevent: DELETED\ndata: {}\n\n", false),
    ];
    const stop = new AbortController();
    const w = record(stop, (evs) => evs.length === 3);
    await w.done;
    expect(w.events.map((e) => [e.id, e.type])).toEqual([
      ["1", "ADDED"],
      ["2", "MODIFIED"],
      ["3", "DELETED"],
    ]);
    expect(w.opens).toEqual([
      [false, null],
      [true, "2"],
    ]);
    expect(w.phases).toEqual(["connecting", "live", "reconnecting", "live"]);
    expect(seen.map((s) => [s.url, s.lastEventId, s.auth])).toEqual([
      ["/prefix/api/v1/resources?consumer_name=c1&watch=true", undefined, "Bearer s3cret"],
      ["/prefix/api/v1/resources?consumer_name=c1&watch=true", "2", "Bearer s3cret"],
    ]);
  });

  it("starts from now and asks for a list again when the position is gone (410)", async () => {
    handlers = [
      stream("id: 7\ndata: {}\n\n"),
      (_req, res) => res.writeHead(410, { "content-type": "application/json" }).end("{}"),
      stream("id: 90\ndata: {}\n\n", false),
    ];
    const stop = new AbortController();
    const w = record(stop, (evs) => evs.length === 2);
    await w.done;
    expect(seen.map((s) => s.lastEventId)).toEqual([undefined, "7", undefined]);
    expect(w.opens).toEqual([
      [false, null],
      [false, null],
    ]);
  });

  it("says so when the hub answers a page instead of a stream", async () => {
    handlers = [(_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"items":[]}')];
    const w = record(new AbortController(), () => false);
    await w.done;
    expect(w.unsupported()).toBe(true);
    expect(w.opens).toEqual([]);
  });

  it("stops and asks for a token on 401", async () => {
    handlers = [(_req, res) => res.writeHead(401).end()];
    const w = record(new AbortController(), () => false);
    await w.done;
    expect(w.phases).toEqual(["connecting", "unauthorized"]);
    expect(seen).toHaveLength(1);
  });
});
