import { loadProcessConfig } from "./config.js";
import { startTracing } from "./core/observability/tracing.js";

const config = loadProcessConfig();
// Before the application is imported: the instrumentations patch node:http, pg and ioredis as
// they load. Without an OTLP endpoint nothing of OpenTelemetry is loaded.
await startTracing(config, { role: "api" });
const { startServer } = await import("./server.js");
await startServer(config);
