import { describe, expect, it } from "vitest";
import { callgrindSelfCosts } from "../../bench/callgrind.js";

/** The main thread: main calls work (inclusive 700) and a compile job still on the stack. */
const THREAD_1 = `version: 1
creator: callgrind-3.19.0
pid: 4242
cmd:  node main.js

part: 1
thread: 1

desc: Trigger: Client Request

positions: line
events: Ir Dr
summary: 1000 90


ob=(1) /usr/bin/node
fl=(1) ???
fn=(1) main
0 100 10
cfn=(2) work
calls=2 0
0 700 70
0 50 5

fn=(2)
0 600 60
cfn=(3) v8::internal::compiler::PipelineImpl::OptimizeGraph(v8::internal::compiler::Linkage*)
calls=1 0
0 100
fi=(2) other.cc
0 0 0

fn=(3)
0 100

fn=(4) v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)
0 150 15

totals: 1000 90
`;

/** Another thread with compressed positions: its own name table, Ir the second event. */
const THREAD_2 = `version: 1
creator: callgrind-3.19.0

part: 1
thread: 2

positions: instr line
events: Dr Ir
summary: 0 250

ob=(1) /usr/bin/node
fl=(1) ???
fn=(1) v8::internal::compiler::Pipeline::Run
0x10 12 1 200
cfn=(2) main
calls=1 0x20 4
+4 * 0 9999
jump=3 +8 *
+2 *
+2 +1 0 50

totals: 0 250
`;

describe("callgrindSelfCosts", () => {
  it("counts each function's own cost lines, not the inclusive cost after a calls= line", () => {
    const costs = callgrindSelfCosts(THREAD_1);
    expect(Object.fromEntries(costs.byFunction)).toEqual({
      main: 150,
      work: 600,
      "v8::internal::compiler::PipelineImpl::OptimizeGraph(v8::internal::compiler::Linkage*)": 100,
      "v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)": 150,
    });
    expect(costs.total).toBe(1000);
    expect(costs.totals).toBe(1000);
    expect(costs.summary).toBe(1000);
  });

  it("adds up the threads' files, each with its own names and columns, to their totals", () => {
    const costs = callgrindSelfCosts([THREAD_1, THREAD_2]);
    expect(costs.byFunction.get("v8::internal::compiler::Pipeline::Run")).toBe(250);
    // main's id 2 in the second file is not the first file's work.
    expect(costs.byFunction.get("work")).toBe(600);
    expect(costs.byFunction.get("main")).toBe(150);
    expect(costs.total).toBe(1250);
    expect(costs.totals).toBe(1250);
    expect(costs.summary).toBe(1250);
    expect([...costs.byFunction.values()].reduce((sum, value) => sum + value, 0)).toBe(1250);
  });

  it("reads another event's column", () => {
    const costs = callgrindSelfCosts(THREAD_1, "Dr");
    expect(costs.byFunction.get("main")).toBe(15);
    expect(costs.total).toBe(90);
    expect(costs.totals).toBe(90);
  });

  it("refuses a dump without the event and a compressed name never defined", () => {
    expect(() => callgrindSelfCosts("events: Dr\nfn=(1) a\n0 5\n")).toThrow(/no Ir/);
    expect(() => callgrindSelfCosts("events: Ir\nfn=(7)\n0 5\n")).toThrow(/\(7\)/);
  });

  it("leaves totals undefined when a part has none", () => {
    expect(callgrindSelfCosts("events: Ir\nfn=a\n0 5\n")).toMatchObject({
      total: 5,
      totals: undefined,
    });
  });
});
