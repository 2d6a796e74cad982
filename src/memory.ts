import { performance } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";
import type { FastifyBaseLogger } from "fastify";

/**
 * The full collections the API asks V8 for, where the process runs with --expose-gc (`npm
 * start` and the image do; docs/operations.md#memory): one before it listens, and, unless
 * MEMORY_RETURN_WHEN_QUIET=false, one after each quiet spell of two minutes that followed
 * start-up or load.
 *
 * The API runs with V8's memory reducer off (--no-memory-reducer), so these are the only
 * collections of an idle process. The reducer's, after about 8 quiet seconds, found the request
 * path's short-lived objects dead and dropped the optimized code that had been specialised on
 * them: after every lull of a minute the next burst's first second ran the whole path
 * unoptimized, at about a quarter of its speed, and made the burst's p99. Two minutes keeps the
 * code through ordinary lulls and still gives memory back to a process that has gone quiet.
 *
 * Both ask for V8's "last resort" collection: besides the full mark-compact, V8 shrinks the
 * young generation and hands its pooled pages back to the system (Node 20's V8 ignores the
 * option and runs a plain one, which frees only the garbage). Only such a memory-reducing
 * collection releases the pool: a plain one, or a scavenge that shrinks the young generation,
 * leaves the pages resident. On Node 24 the reducer would not start anyway in a process that has
 * stopped allocating: V8 13 reads an allocation rate of exactly zero on the embedder's C++ heap,
 * which Node never allocates on, as the highest rate (`--trace-mutator-utilization` prints an
 * embedder utilisation of 0.000 at every check). Without these collections the idle API on Node
 * 24 kept what start-up or a burst of load had grown: 121-131 MB instead of 103-107. The first
 * second of a burst after the quiet-spell collection is slow as after the reducer's, which is
 * why the spell is long (docs/decisions/0001).
 */

interface CollectOptions {
  readonly type: "major";
  readonly execution: "sync";
  readonly flavor: "last-resort";
}
type Collect = (options?: CollectOptions) => void;

const LAST_RESORT: CollectOptions = { type: "major", execution: "sync", flavor: "last-resort" };

function exposedCollector(): Collect | undefined {
  const collect = (globalThis as { gc?: Collect }).gc;
  return typeof collect === "function" ? collect : undefined;
}

const megabytes = (bytes: number) => Math.round(bytes / 104_857.6) / 10;

/** The young generation's committed size: what a memory-reducing collection shrinks. */
const youngGeneration = () =>
  getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0;

function collectAndLog(logger: FastifyBaseLogger, message: string, collect: () => void): void {
  const before = process.memoryUsage();
  const youngBefore = youngGeneration();
  collect();
  // The heap shrinks at once; the resident size follows as V8 and the allocator return pages.
  const after = process.memoryUsage();
  logger.info(
    {
      heapUsedBeforeMb: megabytes(before.heapUsed),
      heapUsedAfterMb: megabytes(after.heapUsed),
      youngGenerationBeforeMb: megabytes(youngBefore),
      youngGenerationAfterMb: megabytes(youngGeneration()),
      rssBeforeMb: megabytes(before.rss),
      rssAfterMb: megabytes(after.rss),
    },
    message,
  );
}

/**
 * Starting leaves tens of MB of garbage (modules compiled, schemas and routes built) and, on
 * Node 24, a young generation grown to its maximum, which V8 keeps until a memory-reducing
 * collection that an idle API may never run. One last-resort collection before the listener
 * opens hands both back. No request waits for it, and no request's code or objects exist yet for
 * it to drop: on Node 24 the read was as fast after it as after a plain one (0.96-0.99x, three
 * paired runs), where the same collection a few seconds after the API had begun to listen left
 * it 6-12% slower (docs/decisions/0001).
 */
export function collectStartupGarbage(logger: FastifyBaseLogger): void {
  const collect = exposedCollector();
  if (collect) collectAndLog(logger, "start-up garbage collected", () => collect(LAST_RESORT));
}

export interface QuietSpellOptions {
  /** How often the event loop's utilisation is read. */
  readonly checkEveryMs: number;
  /** How many checks in a row below `quietUtilization` make a quiet spell. */
  readonly quietChecks: number;
  /** The share of time the event loop is busy below which a check counts as quiet. */
  readonly quietUtilization: number;
}

/**
 * Two minutes below 1% busy. Health probes and metric scrapes keep an idle API far below 1%, and
 * a lull shorter than this keeps its heap and its optimized code warm for the next burst: the
 * collection drops the code specialised on objects that died in the lull, and shrinks the young
 * generation, which slows the first second of the load after it
 * (docs/decisions/0001-tenant-read-path.md).
 */
const QUIET_SPELL: QuietSpellOptions = {
  checkEveryMs: 10_000,
  quietChecks: 12,
  quietUtilization: 0.01,
};

/**
 * Decides from each check's event-loop utilisation whether to collect now: once a spell has
 * lasted `quietChecks` checks, once per spell, and only if start-up or some check since the last
 * collection was busy (an API that only ever answers probes collects once, after start-up).
 */
export function quietSpellPolicy(
  options: Pick<QuietSpellOptions, "quietChecks" | "quietUtilization">,
): (utilization: number) => boolean {
  let quietChecks = 0;
  // Start-up grew the heap as load does.
  let busySinceCollection = true;
  return (utilization) => {
    if (utilization >= options.quietUtilization) {
      busySinceCollection = true;
      quietChecks = 0;
      return false;
    }
    quietChecks += 1;
    if (!busySinceCollection || quietChecks < options.quietChecks) return false;
    busySinceCollection = false;
    return true;
  };
}

/**
 * Gives memory back after start-up and after load: one last-resort collection once the event
 * loop has been quiet for a spell (QUIET_SPELL). Reads only the event loop's utilisation, so
 * requests pay nothing for it. Returns the stop function, or undefined without --expose-gc.
 */
export function collectAfterQuietSpells(
  logger: FastifyBaseLogger,
  options: QuietSpellOptions = QUIET_SPELL,
): (() => void) | undefined {
  const collect = exposedCollector();
  if (!collect) return undefined;
  const shouldCollect = quietSpellPolicy(options);
  let previous = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const current = performance.eventLoopUtilization();
    const { utilization, active, idle } = performance.eventLoopUtilization(current, previous);
    // A check that fires late, straight after a callback that outlasted the interval (the
    // collection itself on a busy machine), measures a window with no idle time in it, which
    // would read as fully busy and start the spell, and so the next collection, over again.
    // Such a window says nothing: it is added to the next check's.
    if (active + idle < options.checkEveryMs / 2) return;
    previous = current;
    if (shouldCollect(utilization)) {
      collectAndLog(logger, "memory given back after a quiet spell", () => collect());
      // The collection's own pause is not load: the next check starts after it.
      previous = performance.eventLoopUtilization();
    }
  }, options.checkEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}
