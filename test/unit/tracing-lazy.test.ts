/**
 * Tracing costs nothing while it is off: without an OTLP endpoint, starting it and importing
 * the whole application loads no OpenTelemetry module (not even the API package); with one, the
 * SDK loads. A child process records every module the loader resolves (a module.register hook),
 * as test/unit/lazy-imports.test.ts does for the kit's other optional dependencies.
 */
import { describe, expect, it } from "vitest";
import { resolvedModules, sourceUrl } from "../helpers/resolved-modules.js";

const script = `
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

// Each test starts a node process that imports the application: seconds on a busy machine.
describe("tracing while it is off", { timeout: 30_000 }, () => {
  it("loads no OpenTelemetry module; an OTLP endpoint loads the SDK", () => {
    const lines = resolvedModules(script);
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
