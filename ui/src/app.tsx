// The shell: navigation, the live-updates banner, the token prompt, and the hash router
// (#/, #/resources?…, #/resources/ID): hash routes keep every URL relative to the one page
// the hub serves, behind any path prefix.

import { useEffect, useMemo, useState } from "preact/hooks";
import { setToken } from "./api";
import { Fleet } from "./store";
import { Overview } from "./views/overview";
import { Resources, type ResourceFilters } from "./views/resources";
import { ResourcePage } from "./views/resource";

type Route = { view: "overview" } | { view: "resources"; filters: ResourceFilters } | { view: "resource"; id: string };

export function route(hash: string): Route {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const q = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "resources" && parts[1]) return { view: "resource", id: decodeURIComponent(parts[1]) };
  if (parts[0] === "resources") {
    return {
      view: "resources",
      filters: { consumer: q.get("consumer") ?? "", labels: q.get("labels") ?? "", condition: q.get("condition") ?? "" },
    };
  }
  return { view: "overview" };
}

export function resourcesHash(f: ResourceFilters): string {
  const q = new URLSearchParams();
  if (f.consumer) q.set("consumer", f.consumer);
  if (f.labels) q.set("labels", f.labels);
  if (f.condition) q.set("condition", f.condition);
  const s = q.toString();
  return `#/resources${s ? "?" + s : ""}`;
}

function useFleet(): Fleet {
  const fleet = useMemo(() => new Fleet(), []);
  const [, tick] = useState(0);
  useEffect(() => {
    // One render per frame however many events arrive.
    let queued = false;
    const off = fleet.subscribe(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        tick((n) => n + 1);
      });
    });
    fleet.start();
    return off;
  }, [fleet]);
  return fleet;
}

function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function App() {
  const fleet = useFleet();
  const now = useNow();
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  const r = route(hash);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header>
        <nav aria-label="Main">
          <strong class="brand">baton</strong>
          <a href="#/" aria-current={r.view === "overview" ? "page" : undefined}>Fleet</a>
          <a href="#/resources" aria-current={r.view !== "overview" ? "page" : undefined}>Resources</a>
          <span class="live muted" title={fleet.consumersLive ? "clusters update live" : "clusters refresh every 5 s"}>
            {fleet.consumersLive ? "live" : "live (clusters polled)"}
          </span>
        </nav>
      </header>
      <BannerView fleet={fleet} />
      <main id="main" tabIndex={-1}>
        {fleet.needToken ? (
          <TokenForm onToken={(t) => { setToken(t); fleet.start(); }} />
        ) : r.view === "overview" ? (
          <Overview fleet={fleet} now={now} />
        ) : r.view === "resources" ? (
          <Resources fleet={fleet} now={now} filters={r.filters} setFilters={(f) => {
            history.replaceState(null, "", resourcesHash(f));
            setHash(location.hash);
          }} />
        ) : (
          <ResourcePage fleet={fleet} id={r.id} now={now} />
        )}
      </main>
    </>
  );
}

function BannerView({ fleet }: { fleet: Fleet }) {
  const b = fleet.banner;
  return (
    <div class={`banner ${b ? b.kind : "none"}`} role="status" aria-live="polite" data-banner={b?.kind ?? ""}>
      {b?.kind === "reconnecting" && "Live updates interrupted: reconnecting…"}
      {b?.kind === "resumed" && (b.after ? `Reconnected: resumed after event ${b.after}.` : "Reconnected: reloaded.")}
      {b?.kind === "error" && `The hub answered an error: ${b.message}`}
    </div>
  );
}

function TokenForm({ onToken }: { onToken: (t: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <h1>API token</h1>
      <p>This hub requires a bearer token (<code>--api-token-file</code>). It is kept for this browser tab only (session storage).</p>
      <label>
        Token
        <input type="password" autoComplete="off" required value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Use token</button>
    </form>
  );
}
