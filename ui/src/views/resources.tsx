// Resources: one row per manifest bundle, filtered by cluster, labels and condition; the
// filters live in the URL (#/resources?consumer=…&labels=…&condition=…) so views link here.

import { RESOURCE_CAP } from "../api";
import type { Fleet } from "../store";
import { age, matchesCondition, matchesLabels, parseSelector, summarize } from "../model";
import { ConditionBadge, RolloutBadge } from "../components";
import { useSelector } from "./filters";

/** Rows drawn at once; the filters narrow a larger fleet. */
const SHOWN = 500;

export interface ResourceFilters {
  consumer: string;
  labels: string;
  condition: string;
}

const CONDITIONS: [string, string][] = [
  ["", "any"],
  ["Applied=True", "Applied"],
  ["Applied=False", "Apply failed"],
  ["Available=True", "Available"],
  ["Available=False", "Not available"],
  ["pending", "Pending"],
  ["deleting", "Deleting"],
];

export function Resources({
  fleet,
  now,
  filters,
  setFilters,
}: {
  fleet: Fleet;
  now: number;
  filters: ResourceFilters;
  setFilters: (f: ResourceFilters) => void;
}) {
  const { selector, error } = useSelector(filters.labels, parseSelector);
  const matching = [...fleet.resources.values()]
    .filter(
      (r) =>
        (filters.consumer === "" || r.consumer_name === filters.consumer) &&
        matchesLabels(r.labels, selector) &&
        matchesCondition(r, filters.condition),
    )
    .sort(
      (a, b) =>
        a.consumer_name.localeCompare(b.consumer_name) ||
        (a.name ?? a.id).localeCompare(b.name ?? b.id),
    );
  const rows = matching.slice(0, SHOWN);
  const clusters = [...fleet.consumers.keys()].sort();
  if (filters.consumer && !clusters.includes(filters.consumer)) clusters.unshift(filters.consumer);
  const set = (k: keyof ResourceFilters) => (e: Event) =>
    setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value });
  return (
    <section aria-labelledby="resources-title">
      <h1 id="resources-title">Resources</h1>
      <div class="filters">
        <label>
          Cluster
          <select value={filters.consumer} onChange={set("consumer")}>
            <option value="">all</option>
            {clusters.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label>
          Labels
          <input
            type="search"
            placeholder="app=web"
            value={filters.labels}
            aria-invalid={error ? "true" : undefined}
            aria-describedby="resources-filter-error"
            onInput={set("labels")}
          />
        </label>
        <label>
          Condition
          <select value={filters.condition} onChange={set("condition")}>
            {CONDITIONS.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <span id="resources-filter-error" class="error" role="alert">
          {error}
        </span>
      </div>
      <p class="muted" aria-live="polite">
        {!fleet.resourcesLoaded
          ? "Loading resources…"
          : `${matching.length} resource${matching.length === 1 ? "" : "s"}` +
            (matching.length > SHOWN ? `, the first ${SHOWN} shown: narrow the filters` : "") +
            (fleet.resources.size >= RESOURCE_CAP ? ` (the UI holds at most ${RESOURCE_CAP})` : "")}
      </p>
      {rows.length > 0 && (
        <div class="scroll" tabIndex={0} role="region" aria-label="Resources">
          <table class="resources">
            <caption class="sr-only">Resources</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Cluster</th>
                <th scope="col">State</th>
                <th scope="col">Conditions</th>
                <th scope="col" class="num">Version</th>
                <th scope="col" class="num">Observed</th>
                <th scope="col">Age</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const s = summarize(r);
                return (
                  <tr key={r.id} data-resource-id={r.id} data-rollout={s.rollout} class={s.rollout === "failed" ? "failed" : ""}>
                    <th scope="row">
                      <a href={`#/resources/${r.id}`}>{r.name ?? r.id.slice(0, 8)}</a>
                    </th>
                    <td>{r.consumer_name}</td>
                    <td>
                      <RolloutBadge rollout={s.rollout} />
                      {s.failure && <div class="reason bad" data-reason>{s.failure}</div>}
                    </td>
                    <td>
                      <ConditionBadge type="Applied" c={s.applied} />{" "}
                      <ConditionBadge type="Available" c={s.available} />
                    </td>
                    <td class="num">{r.version}</td>
                    <td class="num">{s.observedGeneration ?? "–"}</td>
                    <td>
                      <time dateTime={r.created_at} title={r.created_at}>
                        {age(r.created_at, now)}
                      </time>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
