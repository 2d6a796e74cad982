import fp from "fastify-plugin";
import type { Config } from "../config.js";
import { observeReadiness } from "../core/observability/kit-metrics.js";
import { metricsPlugin } from "../core/observability/metrics.js";
import type { ReadinessChecks } from "../infrastructure.js";

/**
 * GET /metrics (behind METRICS_TOKEN) and the HTTP metrics, with the readiness gauge reading this
 * process's backing services until the app closes.
 */
export const metrics = fp<{ config: Config; readinessChecks: ReadinessChecks }>(
  async (app, { config, readinessChecks }) => {
    await app.register(metricsPlugin, { token: config.metricsToken });
    app.addHook("onClose", observeReadiness(readinessChecks));
  },
  { name: "kit-metrics" },
);
