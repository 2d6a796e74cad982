/**
 * Self (exclusive) costs per function from callgrind's output format
 * (https://valgrind.org/docs/manual/cl-format.html), read from the dump text itself.
 *
 * A function's self cost is the sum of its cost lines, without the line after each `calls=`
 * line: that one is the inclusive cost of the call, the callee's and everything under it. The
 * self costs of a part add up to its `totals:` line, which callgrind writes as the sum of the
 * cost lines it printed, calls excluded. Costs of functions still on a thread's stack at the
 * dump (a compile job on another thread, say) sit in the calls' inclusive lines only, so they
 * are counted once, in the function that executed them.
 *
 * Handled: `events:` and `positions:` (which columns hold the event asked for), name
 * compression (`fn=(12) name` defines 12, `fn=(12)` reuses it; `cfn=` shares the table with
 * `fn=`), relative positions (`+N`, `-N`, `*`) and hex addresses, `calls=`, `jump=`/`jcnd=`
 * (whose following line holds positions only), several parts in one file (`part:`, with
 * --combine-dumps) and several files (one per thread with --separate-threads: pass each
 * file's text; name compression is per file).
 */

/** The costs of one event in one or more dump texts. */
export interface CallgrindSelfCosts {
  /** Each function's self cost, by name (the same name in several parts or files summed). */
  readonly byFunction: ReadonlyMap<string, number>;
  /** The sum of every self cost. */
  readonly total: number;
  /** The sum of the parts' `totals:` lines; undefined if a part has none. */
  readonly totals: number | undefined;
  /**
   * The sum of the parts' `summary:` lines; undefined if a part has none. Callgrind counts it
   * by thread, apart from the cost lines: in a dump of a node server it was 0.1-0.7% below the
   * totals, which are what the self costs add up to.
   */
  readonly summary: number | undefined;
}

/** A cost line: positions and costs, each a number, a hex address, `+N`, `-N` or `*`. */
const COST_LINE = /^(?:[0-9+*-]|0x)/;

/**
 * The self costs of `event` (Ir unless another is named) per function in the dump texts
 * given (one per file). Throws if a text names no such event or holds a line it cannot read.
 */
export function callgrindSelfCosts(
  texts: string | readonly string[],
  event = "Ir",
): CallgrindSelfCosts {
  const byFunction = new Map<string, number>();
  let total = 0;
  let totals: number | undefined = 0;
  let summary: number | undefined = 0;
  for (const text of typeof texts === "string" ? [texts] : texts) {
    const parts = partsOf(text, event, byFunction);
    for (const part of parts) {
      total += part.total;
      totals = part.totals === undefined || totals === undefined ? undefined : totals + part.totals;
      summary =
        part.summary === undefined || summary === undefined ? undefined : summary + part.summary;
    }
    if (parts.length === 0) totals = summary = undefined;
  }
  return { byFunction, total, totals, summary };
}

interface Part {
  total: number;
  totals: number | undefined;
  summary: number | undefined;
}

/** One file's parts, adding each function's self cost to `byFunction`. */
function partsOf(text: string, event: string, byFunction: Map<string, number>): Part[] {
  /** Compressed function names of this file (fn= and cfn= share them). */
  const names = new Map<string, string>();
  const parts: Part[] = [];
  let part: Part | undefined;
  const newPart = (): Part => {
    const next: Part = { total: 0, totals: undefined, summary: undefined };
    parts.push(next);
    return next;
  };
  let positions = 1;
  /** The event's column among the costs; -1 before an `events:` line. */
  let column = -1;
  let fn: string | undefined;
  /** The next cost line belongs to a call (inclusive) or a jump (positions only). */
  let skipNext = false;

  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? "").trim();
    if (line === "" || line.startsWith("#")) continue;
    if (COST_LINE.test(line)) {
      if (skipNext) {
        skipNext = false;
        continue;
      }
      if (column < 0) throw new Error(`line ${index + 1}: costs before an events: line`);
      const fields = line.split(/\s+/);
      // Trailing zero costs may be left out.
      const value = Number(fields[positions + column] ?? 0);
      if (!Number.isFinite(value)) throw new Error(`line ${index + 1}: cannot read ${line}`);
      if (value === 0) continue;
      if (fn === undefined) throw new Error(`line ${index + 1}: costs before an fn= line`);
      part ??= newPart();
      part.total += value;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + value);
      continue;
    }
    const separator = /^([a-z]+)(?:=|:\s*)/.exec(line);
    if (!separator?.[1]) continue;
    const key = separator[1];
    const value = line.slice(separator[0].length);
    switch (key) {
      case "part":
        part = newPart();
        break;
      case "positions":
        positions = value.trim().split(/\s+/).length;
        break;
      case "events": {
        column = value.trim().split(/\s+/).indexOf(event);
        if (column < 0) throw new Error(`line ${index + 1}: no ${event} among the events ${value}`);
        break;
      }
      case "fn":
        fn = nameOf(value, names);
        break;
      case "cfn":
        nameOf(value, names);
        break;
      case "calls":
      case "jump":
      case "jcnd":
        skipNext = true;
        break;
      case "totals":
      case "summary": {
        part ??= newPart();
        const figure = Number(value.trim().split(/\s+/)[column] ?? 0);
        if (column < 0 || !Number.isFinite(figure)) {
          throw new Error(`line ${index + 1}: cannot read ${line}`);
        }
        if (key === "totals") part.totals = figure;
        else part.summary = figure;
        break;
      }
    }
  }
  return parts;
}

/** A (possibly compressed) name: `(id) name` defines id, `(id)` reuses it, `name` is plain. */
function nameOf(value: string, names: Map<string, string>): string {
  const compressed = /^\((\d+)\)(?:\s+(.*))?$/.exec(value.trim());
  if (!compressed?.[1]) return value.trim();
  const [, id, name] = compressed;
  if (name !== undefined) {
    names.set(id, name);
    return name;
  }
  const known = names.get(id);
  if (known === undefined) throw new Error(`name (${id}) used before it is defined`);
  return known;
}
