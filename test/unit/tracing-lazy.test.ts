/**
 * Tracing costs nothing while it is off: without an OTLP endpoint, starting it and importing
 * the whole application loads no OpenTelemetry module (not even the API package); with one, the
 * SDK loads. A child process records every module the loader resolves (a module.register hook),
 * as test/unit/lazy-imports.test.ts does for the kit's other optional dependencies.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const work = mkdtempSync(join(os.tmpdir(), "kit-tracing-lazy-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sourceUrl = (path: string) => JSON.stringify(pathToFileURL(join(ROOT, path)).href);

const hooks = `
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.RESOLVED_LOG, resolved.url + "\\n");
  return resolved;
}
`;
const register = `
import { register } from "node:module";
register(${JSON.stringify(pathToFileURL(join(work, "hooks.mjs")).href)});
`;
const script = `
import { appendFileSync } from "node:fs";
const mark = (line) => appendFileSync(process.env.RESOLVED_LOG, line + "\\n");
const { loadConfig } = await import(${sourceUrl("src/config.ts")});
const { startTracing } = await import(${sourceUrl("src/core/observability/tracing.ts")});
const off = await startTracing(loadConfig({ ENVIRONMENT: "test" }), { role: "api" });
await import(${sourceUrl("src/app.ts")});
await import(${sourceUrl("src/server.ts")});
mark("--- application imported, tracing " + (off === undefined ? "off" : "on"));
const on = await startTracing(
  loadConfig({ ENVIRONMENT: "test", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }),
  { role: "api" },
);
mark("--- tracing " + (on === undefined ? "off" : "on"));
await on?.shutdown();
`;

describe("tracing while it is off", () => {
  it("loads no OpenTelemetry module; an OTLP endpoint loads the SDK", () => {
    writeFileSync(join(work, "hooks.mjs"), hooks);
    writeFileSync(join(work, "register.mjs"), register);
    writeFileSync(join(work, "script.mjs"), script);
    const log = join(work, "resolved.log");
    writeFileSync(log, "");
    execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        pathToFileURL(join(work, "register.mjs")).href,
        join(work, "script.mjs"),
      ],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, RESOLVED_LOG: log },
        stdio: "pipe",
        timeout: 60_000,
      },
    );
    const lines = readFileSync(log, "utf8").split("\n");
    const imported = lines.indexOf("--- application imported, tracing off");
    expect(imported, "the script did not import the application with tracing off").toBeGreaterThan(
      0,
    );
    const whileOff = lines.slice(0, imported);
    expect(whileOff.some((url) => url.includes("/src/core/observability/tracing.ts"))).toBe(true);
    expect(whileOff.some((url) => url.includes("/src/core/database/pg-driver.ts"))).toBe(true);
    expect(whileOff.filter((url) => url.includes("@opentelemetry/"))).toEqual([]);
    expect(whileOff.filter((url) => url.includes("tracing-sdk"))).toEqual([]);
    const afterOn = lines.slice(imported);
    expect(afterOn).toContain("--- tracing on");
    expect(afterOn.some((url) => url.includes("@opentelemetry/sdk-trace-node"))).toBe(true);
  }, 90_000);
});
