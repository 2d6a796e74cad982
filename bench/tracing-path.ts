/**
 * What tracing adds to each request in CPU, measured inside one process, where other work on a
 * shared machine moves it far less than it moves `bench/run.ts`'s get-traced against get. It
 * runs the built kit's tracing path (`--kit-dir`, dist/src by default: `npm run build` first)
 * as the HTTP hooks drive it, without the server: the request's span, the request's context,
 * one tenant statement's span and a few awaits inside them, the ids set and the span ended; kept
 * spans go through the kit's span processors and the OTLP/HTTP JSON exporter to a sink in this
 * process (their export is counted). Each variant runs in a process of its own (tracing starts
 * once per process), with the image's node flags:
 *   off   tracing off (no endpoint)
 *   0     tracing on, parentbased_traceidratio 0: every request left out
 *   0.1   one request in ten kept, as production is advised to run
 *   1     every request kept
 * It reports CPU per request (user + system, all threads) as the minimum and median over
 * batches: the minimum is the batch least disturbed by other processes.
 *
 *   npx tsx bench/tracing-path.ts [--kit-dir dist/src] [--batches 40] [--requests 4000] [--output file]
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { positiveInteger } from "./common.js";

process.setSourceMapsEnabled(false);

const VARIANTS = ["off", "0", "0.1", "1"] as const;
type Variant = (typeof VARIANTS)[number];

const { values: args } = parseArgs({
  options: {
    "kit-dir": { type: "string" },
    batches: { type: "string" },
    requests: { type: "string" },
    output: { type: "string" },
    variant: { type: "string" },
  },
});
const kitDir = resolve(
  args["kit-dir"] ?? join(dirname(fileURLToPath(import.meta.url)), "../dist/src"),
);
const batches = positiveInteger(args.batches, "batches", 40);
const requests = positiveInteger(args.requests, "requests", 4000);

interface VariantResult {
  variant: Variant;
  minMicroseconds: number;
  medianMicroseconds: number;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

async function measure(variant: Variant): Promise<VariantResult> {
  const load = <Module>(file: string) =>
    import(pathToFileURL(join(kitDir, file)).href) as Promise<Module>;
  const tracingModule = await load<typeof import("../src/core/observability/tracing.js")>(
    "core/observability/tracing.js",
  );
  const { runWithContext } =
    await load<typeof import("../src/core/logging/index.js")>("core/logging/index.js");
  // A sink that reads and drops what the exporter sends, as bench/run.ts's does.
  const sink = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((done) => sink.listen(0, "127.0.0.1", done));
  if (variant !== "off") {
    const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`;
    const config = {
      environment: "test",
      tracing: {
        endpoint,
        serviceName: "tracing-path",
        sampler: "parentbased_traceidratio",
        samplerRatio: Number(variant),
        trustTraceparent: false,
      },
    } as unknown as import("../src/config.js").Config;
    await tracingModule.startTracing(config, { role: "api" });
  }
  const { requestSpan, traceStatement, flushTracing } = tracingModule;
  const incoming = {
    method: "GET",
    route: "/api/v1/items/:id",
    url: "/api/v1/items/0190d1a2-0000-7000-8000-000000000000",
    headers: { "user-agent": "autocannon" },
    httpVersion: "1.1",
    scheme: () => "http",
  };
  const turn = () => Promise.resolve();
  const handler = async () => {
    await turn();
    await traceStatement("items_find_by_id_0123456789abcdef", async () => {
      await turn();
      await turn();
    });
    await turn();
  };
  const oneRequest = async () => {
    const span = requestSpan(incoming);
    await new Promise<void>((done) =>
      runWithContext({ requestId: "tracing-path", ip: "127.0.0.1" }, () => {
        if (span) span.run(() => void handler().then(done));
        else void handler().then(done);
      }),
    );
    span?.setAttributes({ "tenant.id": "tenant", "user.id": "user" });
    span?.end(200);
  };

  const perRequest: number[] = [];
  for (let batch = 0; batch < batches; batch++) {
    const start = process.cpuUsage();
    for (let index = 1; index <= requests; index++) {
      await oneRequest();
      // Let the event loop turn, as between a server's requests: the exporter's calls proceed.
      if (index % 20 === 0) await new Promise((done) => setImmediate(done));
    }
    await flushTracing();
    const used = process.cpuUsage(start);
    perRequest.push((used.user + used.system) / requests);
  }
  perRequest.sort((a, b) => a - b);
  sink.close();
  return {
    variant,
    minMicroseconds: round2(perRequest[0] ?? 0),
    medianMicroseconds: round2(perRequest[Math.floor(perRequest.length / 2)] ?? 0),
  };
}

if (args.variant) {
  const variant = args.variant as Variant;
  if (!VARIANTS.includes(variant)) throw new Error(`--variant: one of ${VARIANTS.join(", ")}`);
  process.stdout.write(`${JSON.stringify(await measure(variant))}\n`);
  process.exit(0);
}

const results: VariantResult[] = VARIANTS.map((variant) => {
  const output = execFileSync(
    process.execPath,
    [
      "--expose-gc",
      "--max-semi-space-size=8",
      "--import",
      import.meta.resolve("tsx"),
      fileURLToPath(import.meta.url),
      "--variant",
      variant,
      "--kit-dir",
      kitDir,
      "--batches",
      String(batches),
      "--requests",
      String(requests),
    ],
    { encoding: "utf8" },
  );
  return JSON.parse(output.trim().split("\n").at(-1) ?? "{}") as VariantResult;
});
const off = results.find((result) => result.variant === "off");
console.log(`kit: ${kitDir}; ${batches} batches of ${requests} requests; CPU per request (us)`);
console.log("| tracing | min  | median | min over off |");
for (const result of results) {
  const added = off ? round2(result.minMicroseconds - off.minMicroseconds) : 0;
  console.log(
    `| ${result.variant.padEnd(7)} | ${result.minMicroseconds} | ${result.medianMicroseconds} | +${added} |`,
  );
}
if (args.output) {
  writeFileSync(
    args.output,
    `${JSON.stringify({ benchmark: "tracing path, in-process", date: new Date().toISOString(), kitDir, batches, requests, node: process.version, results }, null, 2)}\n`,
  );
}
