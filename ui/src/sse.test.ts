import { describe, expect, it } from "vitest";
import { backoff, SseParser, type SseEvent } from "./sse";

function parse(chunks: string[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.feed(c);
  return out;
}

describe("SseParser", () => {
  it("reads the hub's watch events with their type and id", () => {
    const evs = parse(['id: 42\nevent: MODIFIED\ndata: {"type":"MODIFIED"}\n\n']);
    expect(evs).toEqual([{ type: "MODIFIED", id: "42", data: '{"type":"MODIFIED"}' }]);
  });

  it("joins events split anywhere across chunks, CRLF included", () => {
    const text = "id: 1\r\nevent: ADDED\r\ndata: a\r\n\r\nid: 2\r\ndata: b\r\n\r\n";
    for (let cut = 1; cut < text.length; cut++) {
      const evs = parse([text.slice(0, cut), text.slice(cut)]);
      expect(evs.map((e) => [e.id, e.type, e.data])).toEqual([
        ["1", "ADDED", "a"],
        ["2", "message", "b"],
      ]);
    }
  });

  it("ignores heartbeat comments and keeps the last id for later events", () => {
    const evs = parse([": heartbeat\n\n", "id: 7\ndata: x\n\n", "data: y\ndata: z\n\n"]);
    expect(evs).toEqual([
      { type: "message", id: "7", data: "x" },
      { type: "message", id: "7", data: "y\nz" },
    ]);
  });

  it("dispatches nothing for a block without data", () => {
    expect(parse(["event: ERROR\n\n"])).toEqual([]);
  });
});

describe("backoff", () => {
  it("doubles from half a second up to 15 s", () => {
    expect([0, 1, 2, 5, 9].map(backoff)).toEqual([500, 1000, 2000, 15000, 15000]);
  });
});
