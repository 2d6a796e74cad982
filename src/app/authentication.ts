import fp from "fastify-plugin";
import type { SessionGuard, TokenService } from "../core/auth/index.js";
import { authenticationPlugin, tenantScopePlugin } from "../core/auth/index.js";
import type { Database } from "../core/database/index.js";

/**
 * Who is calling: the bearer token verified and checked against the session guard
 * (`request.principal`), then the tenant scope it grants (`request.tenantDb`, made on first use).
 */
export const authentication = fp<{
  tokens: TokenService;
  sessions: SessionGuard;
  database: Database;
}>(
  async (app, { tokens, sessions, database }) => {
    await app.register(authenticationPlugin, { tokens, sessions });
    await app.register(tenantScopePlugin, { database });
  },
  { name: "authentication-and-tenant-scope" },
);
