import cors from "@fastify/cors";
import fp from "fastify-plugin";
import { z } from "zod";
import type { Config } from "../config.js";
import { publicAccess } from "../core/http/access.js";
import { declareThirdPartyRoutes } from "../core/http/route-standards.js";

/** Response headers a browser's script may read on a cross-origin answer. */
const EXPOSED_HEADERS = [
  "x-request-id",
  "x-trace-id",
  "retry-after",
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
  "x-ratelimit-reset",
  // A deprecated route's announcement (core/http/route-docs.ts), for the client to log.
  "deprecation",
  "sunset",
  "link",
];

/**
 * CORS for CORS_ORIGINS, with credentials (the refresh cookie). Its pre-flight route (OPTIONS *)
 * is @fastify/cors's: declared here before the plugin adds it, so the route standards apply.
 */
export const corsPolicy = fp<{ config: Config }>(
  async (app, { config }) => {
    declareThirdPartyRoutes(app, (route) => route.method === "OPTIONS" && route.url === "*", {
      operationId: "corsPreflight",
      summary: "CORS pre-flight",
      tags: ["system"],
      response: { 204: z.null() },
      access: publicAccess,
    });
    await app.register(cors, {
      origin: config.corsOrigins.includes("*") ? true : [...config.corsOrigins],
      credentials: true,
      methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
      exposedHeaders: EXPOSED_HEADERS,
      maxAge: 600,
    });
  },
  { name: "cors-policy" },
);
