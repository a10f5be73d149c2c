// Fleet overview: totals, then one row per cluster with its health colour; filtered by label.

import { useState } from "preact/hooks";
import type { Fleet } from "../store";
import { consumerCounts, countResources, health, lastSeen, matchesLabels, parseSelector } from "../model";
import { HealthDot, Labels, When } from "../components";
import { useSelector } from "./filters";

export function Overview({ fleet, now }: { fleet: Fleet; now: number }) {
  const [text, setText] = useState("");
  const { selector, error } = useSelector(text, parseSelector);
  const seen = countResources(fleet.resources.values());
  const rows = [...fleet.consumers.values()]
    .filter((c) => matchesLabels(c.labels, selector))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => {
      const counts = consumerCounts(c, seen.get(c.name));
      return { c, counts, health: health(c, counts) };
    });
  const all = [...fleet.consumers.values()];
  let applied = 0;
  let pending = 0;
  let failed = 0;
  for (const c of all) {
    const counts = consumerCounts(c, seen.get(c.name));
    applied += counts.applied;
    pending += counts.pending;
    failed += counts.failed;
  }
  const connected = all.filter((c) => c.connected === true).length;
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Fleet</h1>
      <dl class="totals" aria-label="Totals">
        <div>
          <dt>Clusters connected</dt>
          <dd data-total="connected">
            {connected} / {all.length}
          </dd>
        </div>
        <div>
          <dt>Resources applied</dt>
          <dd data-total="applied">{applied}</dd>
        </div>
        <div>
          <dt>Pending</dt>
          <dd data-total="pending">{pending}</dd>
        </div>
        <div class={failed > 0 ? "bad" : ""}>
          <dt>Failed</dt>
          <dd data-total="failed">{failed}</dd>
        </div>
      </dl>
      <div class="filters">
        <label>
          Label filter
          <input
            type="search"
            placeholder="env=prod,tier=web"
            value={text}
            aria-invalid={error ? "true" : undefined}
            aria-describedby="overview-filter-error"
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
        </label>
        <span id="overview-filter-error" class="error" role="alert">
          {error}
        </span>
      </div>
      {!fleet.consumersLoaded ? (
        <p class="muted">Loading clusters…</p>
      ) : rows.length === 0 ? (
        <p class="muted">No cluster matches.</p>
      ) : (
        <div class="scroll" tabIndex={0} role="region" aria-label="Clusters">
          <table class="clusters">
            <caption class="sr-only">Clusters ({rows.length})</caption>
            <thead>
              <tr>
                <th scope="col">Cluster</th>
                <th scope="col">Health</th>
                <th scope="col">Connected</th>
                <th scope="col">Last seen</th>
                <th scope="col" class="num">Pending</th>
                <th scope="col" class="num">Failed</th>
                <th scope="col">Labels</th>
              </tr>
            </thead>
            <tbody>
              {rows.map(({ c, counts, health }) => (
                <tr key={c.name} data-consumer={c.name}>
                  <th scope="row">
                    <a href={`#/resources?consumer=${encodeURIComponent(c.name)}`}>{c.name}</a>
                  </th>
                  <td>
                    <HealthDot health={health} />
                  </td>
                  <td data-connected={String(c.connected)}>
                    {c.connected === null ? "unknown" : c.connected ? "yes" : "no"}
                  </td>
                  <td>
                    {c.connected && !lastSeen(c) ? "now" : <When at={lastSeen(c)} now={now} />}
                  </td>
                  <td class="num">{counts.pending}</td>
                  <td class={`num ${counts.failed > 0 ? "bad" : ""}`}>{counts.failed}</td>
                  <td>
                    <Labels labels={c.labels} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
