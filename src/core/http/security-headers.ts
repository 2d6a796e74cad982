import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import helmet, { type HelmetOptions } from "helmet";

/**
 * Security headers (helmet's set) on every response. They depend only on the policy, not on
 * the request, so helmet computes each policy's headers once at start-up instead of on every
 * request. A route picks a policy by name in `config.securityHeaders` (default "api").
 */
export interface SecurityHeaderPolicies {
  readonly api: HelmetOptions;
  readonly [name: string]: HelmetOptions;
}

declare module "fastify" {
  interface FastifyContextConfig {
    securityHeaders?: string;
  }
}

/** Runs helmet against a stand-in response and keeps the headers it sets. */
function headersOf(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  } as unknown as ServerResponse;
  let failure: unknown;
  helmet(options)({} as IncomingMessage, response, (error?: unknown) => {
    failure = error;
  });
  if (failure) throw failure;
  return headers;
}

export const securityHeadersPlugin = fp<{ policies: SecurityHeaderPolicies }>(
  async (app: FastifyInstance, { policies }) => {
    const computed = new Map(
      Object.entries(policies).map(([name, options]) => [name, headersOf(options)]),
    );
    const fallback = computed.get("api") as Record<string, string>;
    app.addHook("onRequest", (request, reply, done) => {
      const name = request.routeOptions.config?.securityHeaders;
      reply.headers((name && computed.get(name)) || fallback);
      done();
    });
  },
  { name: "security-headers" },
);
