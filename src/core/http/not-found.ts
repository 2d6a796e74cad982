import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import FindMyWay, { type HTTPMethod } from "find-my-way";
import { sendProblem } from "../errors/index.js";

/**
 * Unknown routes answer 404; a known path with the wrong method answers 405 with `Allow`.
 * Fastify's router only answers "no match", so a second router keeps the path -> methods map.
 */
export const notFoundPlugin = fp<{ typeBaseUrl: string }>(
  async (app: FastifyInstance, options) => {
    const paths = FindMyWay();
    const noop = () => undefined;
    app.addHook("onRoute", (route) => {
      for (const method of [route.method].flat() as HTTPMethod[]) {
        // Catch-all pre-flight routes (CORS) would make every path "known".
        if (method === "OPTIONS" || method === "HEAD") continue;
        if (!paths.hasRoute(method, route.url)) paths.on(method, route.url, noop);
      }
    });

    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split("?")[0] ?? request.url;
      const allowed = (["GET", "POST", "PUT", "PATCH", "DELETE"] as const).filter(
        (method) => method !== request.method && paths.find(method, path) !== null,
      );
      if (allowed.length > 0) {
        if (allowed.includes("GET")) allowed.push("HEAD" as never);
        reply.header("allow", allowed.join(", "));
        return sendProblem(request, reply, options.typeBaseUrl, {
          code: "method-not-allowed",
          detail: `${request.method} is not allowed here; use ${allowed.join(", ")}.`,
        });
      }
      return sendProblem(request, reply, options.typeBaseUrl, {
        code: "not-found",
        detail: `No route matches ${request.method} ${path}.`,
      });
    });
  },
  { name: "not-found" },
);
