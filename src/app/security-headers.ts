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
        // The API answers JSON: nothing may be loaded, framed, embedded or submitted to. Only
        // these directives: helmet's defaults would add sources ('self' scripts, inline styles,
        // data: images) that a JSON answer never needs.
        api: {
          contentSecurityPolicy: {
            useDefaults: false,
            directives: {
              defaultSrc: ["'none'"],
              frameAncestors: ["'none'"],
              baseUri: ["'none'"],
              formAction: ["'none'"],
            },
          },
          frameguard: { action: "deny" },
        },
        docs: docsSecurityHeaders,
      },
    });
  },
  { name: "security-header-policies" },
);
