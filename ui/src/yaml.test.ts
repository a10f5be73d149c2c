import { describe, expect, it } from "vitest";
import { toYaml } from "./yaml";

describe("toYaml", () => {
  it("prints a manifest as block YAML", () => {
    const m = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "hello", namespace: "default", labels: {} },
      data: { greeting: "hi", count: "3", enabled: "true", empty: "" },
      spec: { ports: [{ port: 80, name: "http" }, { port: 443 }], args: ["a", "-b"], tags: [] },
    };
    expect(toYaml(m)).toBe(
      [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: hello",
        "  namespace: default",
        "  labels: {}",
        "data:",
        "  greeting: hi",
        '  count: "3"',
        '  enabled: "true"',
        '  empty: ""',
        "spec:",
        "  ports:",
        "    - port: 80",
        "      name: http",
        "    - port: 443",
        "  args:",
        "    - a",
        '    - "-b"',
        "  tags: []",
        "",
      ].join("\n"),
    );
  });

  it("quotes what YAML would read as something else", () => {
    expect(toYaml({ a: "yes", b: "1.5", c: "x: y", d: "#c", e: "null", f: " lead", g: "ok " })).toBe(
      'a: "yes"\nb: "1.5"\nc: "x: y"\nd: "#c"\ne: "null"\nf: " lead"\ng: "ok "\n',
    );
  });

  it("writes multi-line strings as literal blocks", () => {
    expect(toYaml({ script: "echo a\necho b\n", note: "one\ntwo" })).toBe(
      "script: |\n  echo a\n  echo b\nnote: |-\n  one\n  two\n",
    );
  });

  it("nests lists of lists and scalars at the top", () => {
    expect(toYaml([[1, 2], null, true])).toBe("- - 1\n  - 2\n- null\n- true\n");
    expect(toYaml("plain")).toBe("plain\n");
  });
});
