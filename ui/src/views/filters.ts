// Filter inputs shared by the views.

import { useMemo } from "preact/hooks";

/** A label selector parsed from what is typed; an unparsable one filters nothing and says why. */
export function useSelector(
  text: string,
  parse: (t: string) => [string, string][],
): { selector: [string, string][]; error: string } {
  return useMemo(() => {
    try {
      return { selector: parse(text), error: "" };
    } catch (e) {
      return { selector: [], error: (e as Error).message };
    }
  }, [text, parse]);
}
