import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { type AppModule, createApp } from "../../src/app.js";
import type { Config } from "../../src/config.js";
import type { TokenService } from "../../src/core/auth/index.js";
import type { Database, TenantRow } from "../../src/core/database/index.js";
import { createLogger } from "../../src/core/logging/index.js";
import { createInfrastructure } from "../../src/infrastructure.js";
import { createTenantsService } from "../../src/modules/tenants/index.js";
import { TEST_REDIS_URL, testConfig } from "./app.js";
import { createSignedInMember } from "./identity.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";
import { testModules } from "./test-modules.js";

export interface TestTenant {
  readonly tenant: TenantRow;
  readonly userId: string;
  readonly sessionId: string;
  readonly token: string;
  /** `{ authorization: "Bearer <token>" }` */
  readonly headers: { authorization: string };
}

export interface TenancyTestContext {
  readonly app: FastifyInstance;
  readonly config: Config;
  readonly testDatabase: TestDatabase;
  /** A second handle on the same database, for arranging and inspecting data. */
  readonly database: Database;
  readonly tokens: TokenService;
  /**
   * A new tenant with a signed-in owner: the user, membership and session exist in the
   * database, so the token passes the session guard.
   */
  newTenant(name?: string): Promise<TestTenant>;
  close(): Promise<void>;
}

/**
 * An app on a fresh database cloned from the migrated template, with `testModules` (the kit's
 * modules and the notes fixture) unless given `modules`. Close it in afterAll.
 */
export async function setupTenancyTest(
  env: Record<string, string | undefined> = {},
  { modules = testModules }: { modules?: readonly AppModule[] } = {},
): Promise<TenancyTestContext> {
  const testDatabase = await createTestDatabase();
  // With Redis, as in production: no in-process job relay polls the database during a test.
  // Two pools with two non-superuser logins, as in production (test-database.ts).
  const config = testConfig({
    DATABASE_URL: testDatabase.tenantUrl,
    DATABASE_SYSTEM_URL: testDatabase.systemUrl,
    REDIS_URL: TEST_REDIS_URL,
    ...env,
  });
  const app = await createApp(config, { modules });
  // Built like a command's, apart from the app's: its database handle arranges and inspects.
  const services = await createInfrastructure(config, {
    role: "cli",
    logger: createLogger(config),
    withoutRedis: true,
  });
  const { database, tokens } = services;
  const tenants = createTenantsService({ database });
  return {
    app,
    config,
    testDatabase,
    database,
    tokens,
    async newTenant(name = `Tenant ${randomUUID().slice(0, 8)}`) {
      const tenant = await tenants.create({ name });
      const { userId, sessionId } = await createSignedInMember(database, tenant.id);
      const token = await tokens.signAccessToken({ sub: userId, tid: tenant.id, sid: sessionId });
      return { tenant, userId, sessionId, token, headers: { authorization: `Bearer ${token}` } };
    },
    async close() {
      await app.close();
      await services.close();
      await testDatabase.drop();
    },
  };
}
