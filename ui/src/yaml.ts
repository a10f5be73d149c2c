// JSON → YAML for reading manifests (output only, never parsed back). Hand-written rather
// than a YAML library: the UI only prints plain JSON values, and this is 60 lines against a
// library several times the size of the whole UI.

const PLAIN = /^[A-Za-z0-9_./][A-Za-z0-9 _./@+-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~|[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)$/i;

function scalar(s: string): string {
  if (s !== "" && PLAIN.test(s) && !RESERVED.test(s) && !s.endsWith(" ")) return s;
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

function block(s: string, indent: string): string | null {
  if (!s.includes("\n") || s.includes("\r") || /^[ \t]/.test(s) || s.endsWith("\n\n")) {
    return null;
  }
  const body = s.endsWith("\n") ? s.slice(0, -1) : s;
  const lines = body.split("\n").map((l) => (l === "" ? "" : indent + l));
  return `${s.endsWith("\n") ? "|" : "|-"}\n${lines.join("\n")}`;
}

function isNested(v: unknown): boolean {
  return (
    typeof v === "object" &&
    v !== null &&
    (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)
  );
}

function value(v: unknown, indent: string): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return block(v, indent) ?? scalar(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return v.length === 0 ? "[]" : "";
  if (typeof v === "object") return Object.keys(v).length === 0 ? "{}" : "";
  return JSON.stringify(v);
}

function lines(v: unknown, indent: string): string[] {
  const out: string[] = [];
  const next = indent + "  ";
  if (Array.isArray(v)) {
    for (const item of v) {
      if (isNested(item)) {
        const inner = lines(item, next);
        out.push(`${indent}- ${inner[0].slice(next.length)}`, ...inner.slice(1));
      } else {
        out.push(`${indent}- ${value(item, next)}`);
      }
    }
  } else {
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      if (isNested(item)) out.push(`${indent}${scalar(k)}:`, ...lines(item, next));
      else out.push(`${indent}${scalar(k)}: ${value(item, next)}`);
    }
  }
  return out;
}

export function toYaml(v: unknown): string {
  return isNested(v) ? lines(v, "").join("\n") + "\n" : value(v, "") + "\n";
}
