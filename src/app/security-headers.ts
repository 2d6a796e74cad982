import fp from "fastify-plugin";
import { docsSecurityHeaders } from "../api/index.js";
import { securityHeadersPlugin } from "../core/http/security-headers.js";

/**
 * The security headers of every answer: the `api` policy by default, and the `docs` policy for
 * the routes that pick it (`config.securityHeaders: "docs"`, the API reference page).
 */
export const securityHeaders = fp(
  async (app) => {
    await app.register(securityHeadersPlugin, {
      policies: {
        // The API answers JSON: nothing may be loaded, framed or embedded.
        api: {
          contentSecurityPolicy: {
            directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] },
          },
        },
        docs: docsSecurityHeaders,
      },
    });
  },
  { name: "security-header-policies" },
);
