/**
 * Compares a benchmark run with a committed reference and fails on a regression (the CI bench
 * job, .ci/bench; docs/decisions/0001-tenant-read-path.md).
 *
 *   tsx bench/regression.ts --reference bench/results/ci-reference.json --current bench/results/ci-latest.json
 *
 * Both files are bench/run.ts results. For every target in both, it compares what does not
 * depend on the machine's speed, each measured against the baseline of its own run:
 *   - throughput: the median of the paired rounds' ratios to the baseline;
 *   - the server's CPU per request, and PostgreSQL's, each divided by the baseline's.
 * A throughput ratio more than --max-drop (0.25) below the reference's, or a CPU ratio more than
 * --max-drop above it, fails the comparison (exit 1). A target missing from either file is
 * reported and skipped.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { median } from "./common.js";

interface TargetSummary {
  readonly requestsPerSecond: number;
  readonly cpuMicrosecondsPerRequest: { server: number; postgres: number };
  readonly pairedRatios?: readonly number[];
  readonly vsBaseline?: { requestsPerSecond: number };
}

interface BenchResult {
  readonly git?: unknown;
  readonly summary: Record<string, TargetSummary>;
}

export interface Comparison {
  readonly target: string;
  readonly measure: "throughput x baseline" | "server CPU x baseline" | "PostgreSQL CPU x baseline";
  readonly reference: number;
  readonly current: number;
  /** Relative change, positive when better (more throughput, less CPU). */
  readonly change: number;
  readonly regressed: boolean;
}

/** The target's throughput against its run's baseline: the median of the paired rounds. */
function throughputRatio(target: TargetSummary): number | undefined {
  if (target.pairedRatios && target.pairedRatios.length > 0) return median(target.pairedRatios);
  return target.vsBaseline?.requestsPerSecond;
}

export function compareRuns(
  reference: BenchResult,
  current: BenchResult,
  maxDrop: number,
): { comparisons: Comparison[]; skipped: string[] } {
  const comparisons: Comparison[] = [];
  const skipped: string[] = [];
  const referenceBase = reference.summary.baseline;
  const currentBase = current.summary.baseline;
  if (!referenceBase || !currentBase) throw new Error("both runs need the baseline target");
  const targets = new Set([...Object.keys(reference.summary), ...Object.keys(current.summary)]);
  for (const name of targets) {
    if (name === "baseline") continue;
    const before = reference.summary[name];
    const after = current.summary[name];
    if (!before || !after) {
      skipped.push(name);
      continue;
    }
    const throughputBefore = throughputRatio(before);
    const throughputAfter = throughputRatio(after);
    if (throughputBefore !== undefined && throughputAfter !== undefined) {
      const change = throughputAfter / throughputBefore - 1;
      comparisons.push({
        target: name,
        measure: "throughput x baseline",
        reference: throughputBefore,
        current: throughputAfter,
        change,
        regressed: change < -maxDrop,
      });
    }
    for (const [measure, part] of [
      ["server CPU x baseline", "server"],
      ["PostgreSQL CPU x baseline", "postgres"],
    ] as const) {
      const cpuBefore =
        before.cpuMicrosecondsPerRequest[part] / referenceBase.cpuMicrosecondsPerRequest[part];
      const cpuAfter =
        after.cpuMicrosecondsPerRequest[part] / currentBase.cpuMicrosecondsPerRequest[part];
      if (!Number.isFinite(cpuBefore) || !Number.isFinite(cpuAfter)) continue;
      const change = cpuBefore / cpuAfter - 1;
      comparisons.push({
        target: name,
        measure,
        reference: cpuBefore,
        current: cpuAfter,
        change,
        regressed: cpuAfter > cpuBefore * (1 + maxDrop),
      });
    }
  }
  return { comparisons, skipped };
}

const isMain = process.argv[1]?.endsWith("regression.ts");
if (isMain) {
  const { values } = parseArgs({
    options: {
      reference: { type: "string", default: "bench/results/ci-reference.json" },
      current: { type: "string", default: "bench/results/ci-latest.json" },
      "max-drop": { type: "string", default: "0.25" },
    },
  });
  const maxDrop = Number(values["max-drop"]);
  if (!(maxDrop > 0 && maxDrop < 1)) {
    console.error("--max-drop must be between 0 and 1");
    process.exit(2);
  }
  const read = (file: string) => JSON.parse(readFileSync(file, "utf8")) as BenchResult;
  const { comparisons, skipped } = compareRuns(
    read(values.reference),
    read(values.current),
    maxDrop,
  );
  const rows = comparisons.map((c) =>
    [
      c.target.padEnd(20),
      c.measure.padEnd(26),
      c.reference.toFixed(3).padStart(8),
      c.current.toFixed(3).padStart(8),
      `${c.change >= 0 ? "+" : ""}${(c.change * 100).toFixed(1)}%`.padStart(8),
      c.regressed ? "REGRESSED" : "ok",
    ].join("  "),
  );
  console.log(
    [
      `${"target".padEnd(20)}  ${"measure".padEnd(26)}  ${"ref".padStart(8)}  ${"now".padStart(8)}  ${"better".padStart(8)}`,
      ...rows,
    ].join("\n"),
  );
  if (skipped.length > 0) console.log(`not in both runs: ${skipped.join(", ")}`);
  const regressions = comparisons.filter((c) => c.regressed);
  if (regressions.length > 0) {
    console.error(
      `\n${regressions.length} regression(s) beyond ${maxDrop * 100}% against ${values.reference}`,
    );
    process.exit(1);
  }
  console.log(`\nno regression beyond ${maxDrop * 100}% against ${values.reference}`);
}
