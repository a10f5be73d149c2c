// What the views show, computed from the API's shapes: pure functions, unit-tested.

import type { Condition, ConsumerView, Labels, ResourceView } from "./api";

export function condition(
  conditions: Condition[] | null | undefined,
  type: string,
): Condition | undefined {
  return (conditions ?? []).find((c) => c.type === type);
}

export type Rollout = "applied" | "failed" | "pending" | "deleting";

export interface ResourceSummary {
  applied?: Condition;
  available?: Condition;
  /** The generation the agent last reported on (the version it applied). */
  observedGeneration?: number;
  rollout: Rollout;
  /** Why it failed: the failing manifest's message (the agent's reason), else the work's. */
  failure?: string;
}

export function summarize(r: ResourceView): ResourceSummary {
  const conditions = r.status?.conditions;
  const applied = condition(conditions, "Applied");
  const available = condition(conditions, "Available");
  const observedGeneration = applied?.observedGeneration;
  let rollout: Rollout;
  let failure: string | undefined;
  if (r.deleted_at) rollout = "deleting";
  else if (!applied || (observedGeneration !== undefined && observedGeneration < r.version))
    rollout = "pending";
  else if (applied.status === "True") rollout = "applied";
  else rollout = "failed";
  if (applied?.status === "False") {
    const manifest = (r.status?.resourceStatus?.manifests ?? [])
      .map((m) => condition(m.conditions, "Applied"))
      .find((c) => c?.status === "False");
    failure = manifest?.message || applied.message || applied.reason || "apply failed";
  }
  return { applied, available, observedGeneration, rollout, failure };
}

/** `env=prod, tier=web` → pairs; all must match. Throws on a term without `=`. */
export function parseSelector(text: string): [string, string][] {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "")
    .map((t) => {
      const eq = t.indexOf("=");
      if (eq <= 0) throw new Error(`"${t}" is not key=value`);
      return [t.slice(0, eq).trim(), t.slice(eq + 1).trim()] as [string, string];
    });
}

export function matchesLabels(labels: Labels, selector: [string, string][]): boolean {
  return selector.every(([k, v]) => labels[k] === v);
}

/** `Applied=False` (a condition), or `pending` / `deleting` (a rollout state). */
export function matchesCondition(r: ResourceView, filter: string): boolean {
  if (filter === "") return true;
  if (filter === "pending" || filter === "deleting") return summarize(r).rollout === filter;
  const [type, status] = filter.split("=");
  return condition(r.status?.conditions, type)?.status === status;
}

export type Health = "healthy" | "degraded" | "unhealthy" | "unknown";

export interface Counts {
  pending: number;
  failed: number;
  applied: number;
  total: number;
}

export function countResources(resources: Iterable<ResourceView>): Map<string, Counts> {
  const by = new Map<string, Counts>();
  for (const r of resources) {
    let c = by.get(r.consumer_name);
    if (!c) by.set(r.consumer_name, (c = { pending: 0, failed: 0, applied: 0, total: 0 }));
    const { rollout } = summarize(r);
    c.total++;
    if (rollout === "pending") c.pending++;
    else if (rollout === "failed") c.failed++;
    else if (rollout === "applied") c.applied++;
  }
  return by;
}

/** The hub's counts when it sends them, else the ones counted from the resources seen. */
export function consumerCounts(c: ConsumerView, seen: Counts | undefined): Counts {
  return {
    pending: c.pending ?? seen?.pending ?? 0,
    failed: c.failed ?? seen?.failed ?? 0,
    applied: seen?.applied ?? 0,
    total: seen?.total ?? 0,
  };
}

/** The hub's verdict (`healthy`) when it gives one, else the connection: red when the agent
 *  is gone, amber when connected with failed resources. */
export function health(c: ConsumerView, counts: Counts): Health {
  if (c.healthy === false) return "unhealthy";
  if (c.healthy === undefined) {
    if (c.connected === false) return "unhealthy";
    if (c.connected === null) return "unknown";
  }
  return counts.failed > 0 ? "degraded" : "healthy";
}

export function lastSeen(c: ConsumerView): string | null {
  return c.last_seen_at ?? c.last_seen ?? null;
}

/** A short age: 42s, 5m, 3h, 12d. */
export function age(from: string, now: number = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(from)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Applies one watch event to the resources held. An event older than what is held (lower
 *  version, or same version with older status) changes nothing: the list may be newer. */
export function applyResourceEvent(
  held: Map<string, ResourceView>,
  type: string,
  data: { resource_id?: string; object?: ResourceView | null },
): boolean {
  const id = data.object?.id ?? data.resource_id;
  if (!id) return false;
  if (type === "DELETED") return held.delete(id);
  const next = data.object;
  if (!next) return false;
  const have = held.get(id);
  if (have && newer(have, next)) return false;
  held.set(id, next);
  return true;
}

function newer(a: ResourceView, b: ResourceView): boolean {
  const t = (x: string | null) => (x ? Date.parse(x) : 0);
  const ka = [a.version, t(a.status_updated_at), t(a.deleted_at), t(a.updated_at)];
  const kb = [b.version, t(b.status_updated_at), t(b.deleted_at), t(b.updated_at)];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] > kb[i];
  return false;
}
