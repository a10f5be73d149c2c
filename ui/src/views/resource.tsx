// One resource: its state, its manifests as read-only YAML with each one's conditions, and
// the condition history as a timeline (refetched whenever the resource's status changes).

import { useEffect, useState } from "preact/hooks";
import { api, ApiError, type Condition, type HistoryItem, type ResourceView } from "../api";
import type { Fleet } from "../store";
import { summarize } from "../model";
import { ConditionBadge, Labels, RolloutBadge, When } from "../components";
import { toYaml } from "../yaml";

type History = { items: HistoryItem[] } | { unsupported: true } | { error: string } | null;

export function ResourcePage({ fleet, id, now }: { fleet: Fleet; id: string; now: number }) {
  const held = fleet.resources.get(id);
  const [fetched, setFetched] = useState<ResourceView | null>(null);
  const [missing, setMissing] = useState<string | null>(null);
  const [history, setHistory] = useState<History>(null);
  const r = held ?? fetched;
  const stamp = r ? `${r.version}|${r.status_updated_at}` : "";

  useEffect(() => {
    if (held || !fleet.resourcesLoaded) return;
    const stop = new AbortController();
    api
      .resource(id, stop.signal)
      .then(setFetched)
      .catch((e) => !stop.signal.aborted && setMissing(e instanceof ApiError && e.status === 404 ? "gone" : String(e.message)));
    return () => stop.abort();
  }, [id, held, fleet.resourcesLoaded]);

  useEffect(() => {
    const stop = new AbortController();
    api
      .history(id, stop.signal)
      .then((items) => setHistory({ items }))
      .catch((e) => {
        if (stop.signal.aborted) return;
        // A hub without /history answers "no such route".
        setHistory(e instanceof ApiError && e.status === 404 ? { unsupported: true } : { error: String(e.message) });
      });
    return () => stop.abort();
  }, [id, stamp]);

  if (!r) {
    return (
      <section>
        <h1>Resource {id}</h1>
        <p class="muted">{missing === "gone" ? "This resource does not exist (or was deleted)." : missing ?? "Loading…"}</p>
        <a href="#/resources">All resources</a>
      </section>
    );
  }
  const s = summarize(r);
  const statuses = r.status?.resourceStatus?.manifests ?? [];
  return (
    <article aria-labelledby="resource-title" data-resource-id={r.id}>
      <p>
        <a href={`#/resources?consumer=${encodeURIComponent(r.consumer_name)}`}>← {r.consumer_name}'s resources</a>
      </p>
      <h1 id="resource-title">{r.name ?? r.id}</h1>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <RolloutBadge rollout={s.rollout} /> <ConditionBadge type="Applied" c={s.applied} />{" "}
          <ConditionBadge type="Available" c={s.available} />
          {s.failure && <div class="reason bad" data-reason>{s.failure}</div>}
        </dd>
        <dt>Cluster</dt>
        <dd>{r.consumer_name}</dd>
        <dt>Id</dt>
        <dd><code>{r.id}</code></dd>
        <dt>Version / observed</dt>
        <dd>
          {r.version} / {s.observedGeneration ?? "not reported"}
        </dd>
        <dt>Created</dt>
        <dd><When at={r.created_at} now={now} /></dd>
        <dt>Status reported</dt>
        <dd><When at={r.status_updated_at} now={now} /></dd>
        <dt>Labels</dt>
        <dd><Labels labels={r.labels} /></dd>
      </dl>
      <h2>Manifests ({r.manifests.length})</h2>
      {r.manifests.map((m, i) => {
        const st = statuses.find((x) => x.resourceMeta?.ordinal === i) ?? statuses[i];
        const meta = (m.metadata ?? {}) as { name?: string; namespace?: string };
        const title = `${String(m.kind ?? "?")} ${meta.namespace ? meta.namespace + "/" : ""}${meta.name ?? ""}`;
        return (
          <section key={i} class="manifest" aria-label={title}>
            <h3>{title}</h3>
            <Conditions list={st?.conditions ?? []} />
            <pre tabIndex={0} aria-label={`${title} as YAML`}>{toYaml(m)}</pre>
          </section>
        );
      })}
      <h2>Condition history</h2>
      <Timeline history={history} />
    </article>
  );
}

function Conditions({ list }: { list: Condition[] }) {
  if (list.length === 0) return <p class="muted">No conditions reported.</p>;
  return (
    <ul class="conditions">
      {list.map((c) => (
        <li key={c.type}>
          <ConditionBadge type={c.type} c={c} /> <span class={c.status === "False" ? "bad" : ""}>{c.reason}{c.message ? `: ${c.message}` : ""}</span>
        </li>
      ))}
    </ul>
  );
}

function Timeline({ history }: { history: History }) {
  if (history === null) return <p class="muted">Loading…</p>;
  if ("unsupported" in history) return <p class="muted">This hub keeps no condition history.</p>;
  if ("error" in history) return <p class="error">{history.error}</p>;
  if (history.items.length === 0) return <p class="muted">No transitions yet.</p>;
  return (
    <ol class="timeline" aria-label="Condition transitions, newest first">
      {history.items.map((h, i) => (
        <li key={i} data-history-type={h.type} data-history-status={h.status}>
          <time dateTime={h.time}>{new Date(h.time).toLocaleString()}</time>{" "}
          <ConditionBadge type={h.type} c={{ type: h.type, status: h.status, reason: h.reason ?? undefined, message: h.message ?? undefined }} />{" "}
          <span>{h.reason}{h.message ? `: ${h.message}` : ""}</span>
          {h.observed_generation != null && <span class="muted"> (generation {h.observed_generation})</span>}
        </li>
      ))}
    </ol>
  );
}
