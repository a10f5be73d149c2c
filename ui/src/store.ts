// The fleet as the UI holds it: consumers and resources, kept current by the hub's watch
// streams (list, then apply events; resume with Last-Event-ID after a drop). Views read it and
// re-render on `subscribe`. Hubs without the consumers watch are polled for consumers instead.

import { api, ApiError, type ConsumerView, type ResourceView } from "./api";
import { applyResourceEvent } from "./model";
import { watch, type SseEvent, type WatchPhase } from "./sse";

export const POLL_MS = 5000;

export type Banner =
  | { kind: "reconnecting" }
  | { kind: "resumed"; after: string | null }
  | { kind: "error"; message: string };

export class Fleet {
  consumers = new Map<string, ConsumerView>();
  resources = new Map<string, ResourceView>();
  resourcesLoaded = false;
  consumersLoaded = false;
  needToken = false;
  banner: Banner | null = null;
  /** Whether consumers come live from the hub's watch, or by polling. */
  consumersLive = false;
  private phases: Record<string, WatchPhase> = {};
  private listeners = new Set<() => void>();
  private stop = new AbortController();
  private resumedAfter: string | null = null;
  private bannerTimer: ReturnType<typeof setTimeout> | undefined;

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  start(): void {
    this.stop.abort();
    this.stop = new AbortController();
    this.needToken = false;
    const signal = this.stop.signal;
    this.follow("resources", signal, {
      list: () => api.resources(signal),
      key: (r) => r.id,
      apply: (held, ev, data) => applyResourceEvent(held, ev.type, data),
      held: () => this.resources,
      replace: (m) => {
        this.resources = m;
        this.resourcesLoaded = true;
      },
    });
    this.follow("consumers", signal, {
      list: () => api.consumers(signal),
      key: (c) => c.name,
      apply: (held, ev, data) => {
        const c = data.object as ConsumerView | null | undefined;
        const name = c?.name ?? (data as { name?: string }).name;
        if (!name) return false;
        if (ev.type === "DELETED") return held.delete(name);
        if (!c) return false;
        held.set(name, c);
        return true;
      },
      held: () => this.consumers,
      replace: (m) => {
        this.consumers = m;
        this.consumersLoaded = true;
        this.consumersLive = true;
      },
      // The hub's consumers watch starts with every consumer as ADDED, whatever the last id.
      relistOnResume: true,
      unsupported: () => this.poll(signal),
    });
  }

  private follow<T>(
    path: string,
    signal: AbortSignal,
    how: {
      list: () => Promise<T[]>;
      key: (item: T) => string;
      apply: (held: Map<string, T>, ev: SseEvent, data: Record<string, unknown>) => boolean;
      held: () => Map<string, T>;
      replace: (m: Map<string, T>) => void;
      /** The stream restarts from the current state (no resume): list on every open. */
      relistOnResume?: boolean;
      unsupported?: () => void;
    },
  ): void {
    // Events that arrive while the list is on its way, replayed onto it.
    let replay: [SseEvent, Record<string, unknown>][] | null = null;
    watch(
      path,
      {
        open: (resumed, after) => {
          this.resumedAfter = resumed ? after : null;
          if (resumed && !how.relistOnResume) return;
          const mine: [SseEvent, Record<string, unknown>][] = [];
          replay = mine;
          how
            .list()
            .then((items) => {
              if (replay !== mine) return;
              const fresh = new Map(items.map((i) => [how.key(i), i]));
              for (const [ev, data] of mine) how.apply(fresh, ev, data);
              replay = null;
              how.replace(fresh);
              this.changed();
            })
            .catch((e) => this.failed(e));
        },
        event: (ev) => {
          let data: Record<string, unknown>;
          try {
            data = JSON.parse(ev.data);
          } catch {
            this.malformed(path, ev);
            return; // the stream goes on
          }
          if (ev.type === "ERROR") return; // the stream ends next; the watch resumes
          replay?.push([ev, data]);
          if (how.apply(how.held(), ev, data)) this.changed();
        },
        phase: (p) => this.phase(path, p),
        unsupported: how.unsupported,
      },
      signal,
    );
  }

  /** Events whose data is not JSON: counted, and logged at most once a minute. */
  malformedEvents = 0;
  private malformedLoggedAt = 0;

  private malformed(path: string, ev: SseEvent): void {
    this.malformedEvents++;
    if (Date.now() - this.malformedLoggedAt > 60_000) {
      this.malformedLoggedAt = Date.now();
      console.warn(`baton: ${this.malformedEvents} malformed ${path} watch event(s); last id ${ev.id}`);
    }
  }

  private async poll(signal: AbortSignal): Promise<void> {
    this.phase("consumers", "live");
    while (!signal.aborted) {
      try {
        const items = await api.consumers(signal);
        this.consumers = new Map(items.map((c) => [c.name, c]));
        this.consumersLoaded = true;
        this.changed();
      } catch (e) {
        if (signal.aborted) return;
        this.failed(e);
        if (this.needToken) return;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  private phase(path: string, p: WatchPhase): void {
    const before = Object.values(this.phases).includes("reconnecting");
    this.phases[path] = p;
    if (p === "unauthorized") {
      this.needToken = true;
      this.stop.abort();
    }
    const now = Object.values(this.phases).includes("reconnecting");
    if (now && !before) this.showBanner({ kind: "reconnecting" });
    if (before && !now) this.showBanner({ kind: "resumed", after: this.resumedAfter }, 4000);
    this.changed();
  }

  private failed(e: unknown): void {
    if (e instanceof ApiError && e.status === 401) {
      this.needToken = true;
      this.stop.abort();
    } else if (!(e instanceof DOMException && e.name === "AbortError")) {
      this.showBanner({ kind: "error", message: String((e as Error)?.message ?? e) }, 8000);
    }
    this.changed();
  }

  private showBanner(b: Banner, forMs?: number): void {
    clearTimeout(this.bannerTimer);
    this.banner = b;
    if (forMs) {
      this.bannerTimer = setTimeout(() => {
        this.banner = null;
        this.changed();
      }, forMs);
    }
    this.changed();
  }
}
