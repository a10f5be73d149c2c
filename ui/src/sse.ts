// Server-Sent Events over fetch(): the hub's watch streams (docs/api.md) read with a stream
// reader rather than EventSource, because EventSource cannot send the Authorization header
// that `--api-token-file` requires (a token in the URL would end up in proxy logs). Like
// EventSource, a dropped stream is reopened with `Last-Event-ID`, so nothing is missed.

import { apiUrl, authHeaders } from "./api";

export interface SseEvent {
  type: string;
  id: string | null;
  data: string;
}

/** The text/event-stream format (HTML Living Standard §9.2.6), fed chunk by chunk. */
export class SseParser {
  private buf = "";
  private data: string[] = [];
  private type = "";
  private lastId: string | null = null;
  private pendingCr = false;

  constructor(private readonly emit: (ev: SseEvent) => void) {}

  feed(chunk: string): void {
    let text = chunk;
    // A CRLF split across chunks: the LF is not a second line end.
    if (this.pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.pendingCr = false;
    this.buf += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      if (m[0] === "\r" && m.index === this.buf.length - 1) {
        this.pendingCr = true;
      }
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) {
        this.emit({ type: this.type || "message", id: this.lastId, data: this.data.join("\n") });
      }
      this.data = [];
      this.type = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
  }
}

export type WatchPhase = "connecting" | "live" | "reconnecting" | "unauthorized";

export interface WatchHandlers {
  /** The stream is open; `resumed` is false when the caller must list again (first open,
   *  or the hub no longer had the position: 410). */
  open(resumed: boolean, lastEventId: string | null): void;
  event(ev: SseEvent): void;
  phase(phase: WatchPhase): void;
  /** The hub answered a page, not a stream: it has no watch for this path. */
  unsupported?(): void;
}

/** No byte for this long (the hub sends a heartbeat every 15 s): the stream is dead. */
export const SILENCE_MS = 45_000;

/** Delay before reconnect attempt `n` (from 0): 0.5 s doubling to 15 s. */
export function backoff(n: number): number {
  return Math.min(15_000, 500 * 2 ** Math.min(n, 5));
}

/** Follows `path` (e.g. `resources?consumer_name=a`) until `signal` aborts. */
export async function watch(path: string, on: WatchHandlers, signal: AbortSignal): Promise<void> {
  let lastId: string | null = null;
  let failures = 0;
  on.phase("connecting");
  while (!signal.aborted) {
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    signal.addEventListener("abort", stop, { once: true });
    let silence: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(silence);
      silence = setTimeout(stop, SILENCE_MS);
    };
    try {
      const sep = path.includes("?") ? "&" : "?";
      const headers = authHeaders({ accept: "text/event-stream" });
      if (lastId !== null) headers["last-event-id"] = lastId;
      arm();
      const res = await fetch(apiUrl(`${path}${sep}watch=true`), {
        headers,
        signal: attempt.signal,
        cache: "no-store",
      });
      if (res.status === 401) {
        on.phase("unauthorized");
        return;
      }
      if (res.status === 410) {
        lastId = null; // too far behind: start from now and list again
        continue;
      }
      if (!res.ok || !res.body) throw new Error(`watch answered ${res.status}`);
      if (!(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
        await res.body.cancel();
        on.unsupported?.();
        return;
      }
      on.open(lastId !== null, lastId);
      on.phase("live");
      failures = 0;
      const parser = new SseParser((ev) => {
        if (ev.id !== null) lastId = ev.id;
        on.event(ev);
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.feed(value);
      }
    } catch {
      // dropped, refused or silent: reconnect below
    } finally {
      clearTimeout(silence);
      signal.removeEventListener("abort", stop);
    }
    if (signal.aborted) return;
    on.phase("reconnecting");
    await new Promise((r) => setTimeout(r, backoff(failures++)));
  }
}
