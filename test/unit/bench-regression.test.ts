import { describe, expect, it } from "vitest";
import { compareRuns } from "../../bench/regression.js";

const run = (
  get: { ratios: number[]; server: number; postgres: number },
  baseline = { server: 100, postgres: 40 },
) => ({
  summary: {
    baseline: {
      requestsPerSecond: 8000,
      cpuMicrosecondsPerRequest: baseline,
    },
    get: {
      requestsPerSecond: 4000,
      pairedRatios: get.ratios,
      cpuMicrosecondsPerRequest: { server: get.server, postgres: get.postgres },
    },
  },
});

describe("the bench regression check", () => {
  const reference = run({ ratios: [0.5, 0.55, 0.6], server: 300, postgres: 100 });

  it("passes a run within the allowed drop, on a slower machine too", () => {
    // Everything twice as slow, the baseline included: no regression.
    const slower = run(
      { ratios: [0.45, 0.5, 0.52], server: 600, postgres: 200 },
      { server: 200, postgres: 80 },
    );
    const { comparisons } = compareRuns(reference, slower, 0.25);
    expect(comparisons.map((c) => [c.measure, c.regressed])).toEqual([
      ["throughput x baseline", false],
      ["server CPU x baseline", false],
      ["PostgreSQL CPU x baseline", false],
    ]);
  });

  it("fails a throughput ratio more than the allowed drop below the reference", () => {
    const { comparisons } = compareRuns(
      reference,
      run({ ratios: [0.3, 0.4, 0.41], server: 300, postgres: 100 }),
      0.25,
    );
    const throughput = comparisons.find((c) => c.measure === "throughput x baseline");
    expect(throughput).toMatchObject({ reference: 0.55, current: 0.4, regressed: true });
  });

  it("fails a server CPU per request more than the allowed share above the reference", () => {
    const { comparisons } = compareRuns(
      reference,
      run({ ratios: [0.5, 0.55, 0.6], server: 400, postgres: 100 }),
      0.25,
    );
    expect(comparisons.filter((c) => c.regressed).map((c) => c.measure)).toEqual([
      "server CPU x baseline",
    ]);
  });

  it("reports targets that only one run has", () => {
    const current = run({ ratios: [0.5], server: 300, postgres: 100 });
    const { skipped } = compareRuns(
      { summary: { ...reference.summary, list: reference.summary.get } },
      current,
      0.25,
    );
    expect(skipped).toEqual(["list"]);
  });
});
