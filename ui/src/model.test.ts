import { describe, expect, it } from "vitest";
import type { ConsumerView, ResourceView } from "./api";
import { apiUrl } from "./api";
import { route, resourcesHash } from "./app";
import {
  age,
  applyResourceEvent,
  consumerCounts,
  countResources,
  health,
  matchesCondition,
  parseSelector,
  summarize,
} from "./model";

const T0 = "2026-12-06T07:00:00Z";

function resource(over: Partial<ResourceView> = {}): ResourceView {
  return {
    id: "r1",
    consumer_name: "c1",
    name: "web",
    version: 1,
    manifests: [],
    labels: {},
    annotations: {},
    status: null,
    status_updated_at: null,
    created_at: T0,
    updated_at: T0,
    deleted_at: null,
    ...over,
  };
}

function applied(ok: boolean, generation = 1, reason = "boom"): Partial<ResourceView> {
  return {
    status: {
      conditions: [
        { type: "Applied", status: ok ? "True" : "False", observedGeneration: generation, reason: ok ? "AppliedManifestWorkComplete" : "AppliedManifestWorkFailed", message: ok ? "" : "Failed to apply manifest work: 1 of 1 manifests failed" },
        { type: "Available", status: ok ? "True" : "False", observedGeneration: generation },
      ],
      resourceStatus: {
        manifests: [{ conditions: [{ type: "Applied", status: ok ? "True" : "False", reason: "AppliedManifestFailed", message: reason }] }],
      },
    },
    status_updated_at: "2026-12-06T07:00:05Z",
  };
}

function consumer(over: Partial<ConsumerView> = {}): ConsumerView {
  return { id: "u", name: "c1", labels: {}, connected: true, created_at: T0, ...over };
}

describe("summarize", () => {
  it("is pending until the agent reports on the current version", () => {
    expect(summarize(resource()).rollout).toBe("pending");
    expect(summarize(resource({ ...applied(true, 1), version: 2 })).rollout).toBe("pending");
    expect(summarize(resource({ ...applied(true, 2), version: 2 })).rollout).toBe("applied");
  });

  it("names the failing manifest's reason when the apply failed", () => {
    const s = summarize(resource(applied(false, 1, "quota exceeded")));
    expect(s.rollout).toBe("failed");
    expect(s.failure).toBe("quota exceeded");
    expect(s.observedGeneration).toBe(1);
  });

  it("says deleting once deletion is asked", () => {
    expect(summarize(resource({ ...applied(true), deleted_at: T0 })).rollout).toBe("deleting");
  });
});

describe("filters", () => {
  it("parses label selectors and refuses a term without =", () => {
    expect(parseSelector(" env=prod, tier = web ,")).toEqual([
      ["env", "prod"],
      ["tier", "web"],
    ]);
    expect(() => parseSelector("env")).toThrow(/key=value/);
  });

  it("matches conditions and rollout states", () => {
    const failed = resource(applied(false));
    expect(matchesCondition(failed, "Applied=False")).toBe(true);
    expect(matchesCondition(failed, "Applied=True")).toBe(false);
    expect(matchesCondition(resource(), "pending")).toBe(true);
    expect(matchesCondition(failed, "")).toBe(true);
  });
});

describe("health", () => {
  const counts = { pending: 0, failed: 0, applied: 0, total: 0 };
  it("follows the hub's verdict when it gives one", () => {
    expect(health(consumer({ healthy: false }), counts)).toBe("unhealthy");
    expect(health(consumer({ healthy: true, connected: false }), counts)).toBe("healthy");
  });
  it("falls back to the connection, amber with failures", () => {
    expect(health(consumer({ connected: false }), counts)).toBe("unhealthy");
    expect(health(consumer({ connected: null }), counts)).toBe("unknown");
    expect(health(consumer(), { ...counts, failed: 1 })).toBe("degraded");
    expect(health(consumer(), counts)).toBe("healthy");
  });
  it("prefers the hub's counts to the ones seen", () => {
    const seen = countResources([resource(applied(false)), resource({ id: "r2" })]).get("c1");
    expect(seen).toEqual({ pending: 1, failed: 1, applied: 0, total: 2 });
    expect(consumerCounts(consumer({ pending: 5, failed: 0 }), seen)).toMatchObject({ pending: 5, failed: 0 });
    expect(consumerCounts(consumer(), seen)).toMatchObject({ pending: 1, failed: 1 });
  });
});

describe("applyResourceEvent", () => {
  it("adds, updates and deletes, never going back to an older state", () => {
    const held = new Map<string, ResourceView>();
    expect(applyResourceEvent(held, "ADDED", { object: resource() })).toBe(true);
    const reported = resource(applied(true));
    expect(applyResourceEvent(held, "MODIFIED", { object: reported })).toBe(true);
    expect(applyResourceEvent(held, "MODIFIED", { object: resource() })).toBe(false);
    expect(held.get("r1")).toBe(reported);
    expect(applyResourceEvent(held, "DELETED", { resource_id: "r1", object: null })).toBe(true);
    expect(held.size).toBe(0);
  });
});

describe("urls", () => {
  it("finds the API next to the UI, behind any prefix", () => {
    expect(apiUrl("resources", "http://h:8000/ui/")).toBe("http://h:8000/api/v1/resources");
    expect(apiUrl("consumers", "https://h/baton/ui/#/resources?x=1")).toBe("https://h/baton/api/v1/consumers");
    expect(apiUrl("consumers", "https://h/baton/ui/index.html")).toBe("https://h/baton/api/v1/consumers");
  });

  it("routes hashes and writes filters back", () => {
    expect(route("")).toEqual({ view: "overview" });
    expect(route("#/resources/abc")).toEqual({ view: "resource", id: "abc" });
    const f = { consumer: "c1", labels: "env=prod", condition: "Applied=False" };
    expect(route(resourcesHash(f))).toEqual({ view: "resources", filters: f });
  });

  it("prints ages", () => {
    const now = Date.parse(T0);
    expect([5, 300, 7200, 172800].map((s) => age(new Date(now - s * 1000).toISOString(), now))).toEqual(["5s", "5m", "2h", "2d"]);
  });
});
