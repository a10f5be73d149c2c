// Small pieces the views share. Colour is never the only signal: every badge says its state.

import type { Condition } from "./api";
import { age, type Health, type Rollout } from "./model";

export function ConditionBadge({ type, c }: { type: string; c?: Condition }) {
  const status = c?.status ?? "Unknown";
  const tone = status === "True" ? "ok" : status === "False" ? "bad" : "wait";
  return (
    <span class={`badge ${tone}`} title={c ? `${c.reason ?? ""} ${c.message ?? ""}`.trim() : "not reported yet"}>
      {type}: {status}
    </span>
  );
}

const ROLLOUT_TONE: Record<Rollout, string> = {
  applied: "ok",
  failed: "bad",
  pending: "wait",
  deleting: "wait",
};

export function RolloutBadge({ rollout }: { rollout: Rollout }) {
  return <span class={`badge ${ROLLOUT_TONE[rollout]}`}>{rollout}</span>;
}

export function HealthDot({ health }: { health: Health }) {
  return (
    <span class={`health ${health}`} data-health={health}>
      <span class="dot" aria-hidden="true" />
      {health}
    </span>
  );
}

export function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <span class="labels">
      {entries.map(([k, v]) => (
        <code key={k}>
          {k}={v}
        </code>
      ))}
    </span>
  );
}

export function When({ at, now }: { at: string | null | undefined; now: number }) {
  if (!at) return <span class="muted">never</span>;
  return <time dateTime={at} title={at}>{age(at, now)} ago</time>;
}

