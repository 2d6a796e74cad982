/**
 * How the machine's memory behaves apart from any server: what every process of a bench run
 * inherits from the machine, most of all under a virtual machine whose host manages the
 * guest's memory. Two measures, each on a plain buffer in this process:
 *
 *   re-touch after a spell  a 64 MiB buffer, written once and once more (warm), then left
 *                           untouched for each spell and written again, one byte per 4 KiB
 *                           page: microseconds per page, and the guest kernel's page faults
 *                           during that pass (/proc/vmstat). A cost that grows with the spell
 *                           while the guest takes no faults is the host's (its page aging,
 *                           reclaim or backing), which the guest cannot see.
 *   first touch             a fresh 256 MiB buffer written once, one byte per page:
 *                           microseconds per page, the price of memory a process had not
 *                           touched before (a growing heap, pages given back and taken again).
 *
 * A server's working set pays the first measure at the start of a load after a quiet spell,
 * for every page it touches, and more for a larger working set. Run it on a quiet machine:
 *
 *   npx tsx bench/machine-memory.ts [--spells 0,2,5,10,20,60] [--output FILE]
 *
 * Results: docs/decisions/0001-tenant-read-path.md.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { machineInfo, nonNegativeSeconds, writeJson } from "./common.js";

const PAGE = 4096;
const RETOUCHED_MIB = 64;
const FIRST_TOUCH_MIB = 256;

const { values } = parseArgs({
  options: {
    spells: { type: "string", default: "0,2,5,10,20,60" },
    output: { type: "string" },
  },
});
const spells = (values.spells ?? "")
  .split(",")
  .map((spell) => nonNegativeSeconds(spell, "spells", 0));

/** The guest kernel's count of page faults, all processes. */
function guestPageFaults(): number {
  const line = readFileSync("/proc/vmstat", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("pgfault "));
  return Number(line?.split(" ")[1] ?? Number.NaN);
}

/** Writes one byte in each page of `buffer`; microseconds per page, and the guest's faults. */
function touch(buffer: Uint8Array): { microsecondsPerPage: number; guestPageFaults: number } {
  const faultsBefore = guestPageFaults();
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < buffer.length; offset += PAGE) {
    buffer[offset] = ((buffer[offset] ?? 0) + 1) & 0xff;
  }
  const nanoseconds = Number(process.hrtime.bigint() - started);
  return {
    microsecondsPerPage: Math.round(nanoseconds / (buffer.length / PAGE)) / 1000,
    guestPageFaults: guestPageFaults() - faultsBefore,
  };
}

const sleep = (seconds: number) => new Promise((done) => setTimeout(done, seconds * 1000));

const retouched = new Uint8Array(RETOUCHED_MIB << 20);
touch(retouched);
const warm = touch(retouched);
console.log(`re-touch, warm: ${warm.microsecondsPerPage} us a page`);
const afterSpells: {
  spellSeconds: number;
  microsecondsPerPage: number;
  guestPageFaults: number;
}[] = [];
for (const spellSeconds of spells) {
  touch(retouched);
  await sleep(spellSeconds);
  const pass = touch(retouched);
  afterSpells.push({ spellSeconds, ...pass });
  console.log(
    `re-touch after ${spellSeconds} s: ${pass.microsecondsPerPage} us a page, ${pass.guestPageFaults} guest page faults for ${retouched.length / PAGE} pages`,
  );
}

const firstTouch = touch(new Uint8Array(FIRST_TOUCH_MIB << 20));
console.log(
  `first touch: ${firstTouch.microsecondsPerPage} us a page, ${firstTouch.guestPageFaults} guest page faults`,
);

const output = resolve(
  values.output ?? `bench/results/machine-memory-${new Date().toISOString().slice(0, 10)}.json`,
);
writeJson(output, {
  benchmark: "machine-memory",
  date: new Date().toISOString(),
  machine: machineInfo(),
  pageBytes: PAGE,
  retouch: { mebibytes: RETOUCHED_MIB, warm, afterSpells },
  firstTouch: { mebibytes: FIRST_TOUCH_MIB, ...firstTouch },
});
console.log(`written: ${output}`);
