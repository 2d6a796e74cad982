/**
 * Demo data for development: two tenants with a few items each, one user who owns the first
 * and is a member of the second (to try switch-tenant), their password, and an access token
 * per tenant to try the API from /docs. Idempotent (existing demo rows are left as they are).
 * Refused in staging and production. With the embedded database, stop the dev server first:
 * PGlite allows one process at a time.
 */
import { and, eq, sql } from "drizzle-orm";
import { isStrictEnvironment, loadProcessConfig } from "../src/config.js";
import { createTokenService } from "../src/core/auth/index.js";
import { memberships, openDatabase, sessions, tenants, users } from "../src/core/database/index.js";
import { createLogger } from "../src/core/logging/index.js";
import type { DefaultRoleName } from "../src/core/permissions/index.js";
import { hashPassword } from "../src/modules/auth/index.js";
import { itemsService } from "../src/modules/items/index.js";
import { rolesSystemRepository } from "../src/modules/rbac/index.js";
import { createTenantsService } from "../src/modules/tenants/index.js";

const DEMO: { name: string; slug: string; role: DefaultRoleName; items: string[] }[] = [
  {
    name: "Acme Corporation",
    slug: "acme-corporation",
    role: "owner",
    items: ["Rocket skates", "Giant magnet", "Tornado seeds"],
  },
  { name: "Globex", slug: "globex", role: "member", items: ["Doomsday device", "Hammock"] },
];
/** A development account only: the seed is refused outside development and test. */
const DEMO_USER = {
  email: "ada@example.com",
  name: "Ada Lovelace",
  password: "demo password 1234",
};

const config = loadProcessConfig({ LOG_LEVEL: "warn" });
if (isStrictEnvironment(config.environment)) {
  console.error(`npm run seed adds demo data and is refused in ${config.environment}.`);
  process.exit(1);
}

const database = await openDatabase(config, createLogger(config));
const tokens = createTokenService({
  secretKey: config.secretKey,
  issuer: config.jwtIssuer,
  audience: config.jwtAudience,
});
try {
  const user = await database.bypassTenantIsolation("demo seed: user", async (db) => {
    const [found] = await db
      .select()
      .from(users)
      .where(sql`lower(${users.email}) = ${DEMO_USER.email}`);
    if (found) return found;
    const [created] = await db
      .insert(users)
      .values({
        email: DEMO_USER.email,
        name: DEMO_USER.name,
        passwordHash: await hashPassword(DEMO_USER.password),
        emailVerifiedAt: new Date(),
      })
      .returning();
    console.log(`created user ${DEMO_USER.email}`);
    return created;
  });
  if (!user) throw new Error("the demo user could not be created");

  for (const demo of DEMO) {
    const existing = await database.bypassTenantIsolation("demo seed lookup", (db) =>
      db.select().from(tenants).where(eq(tenants.slug, demo.slug)),
    );
    let tenant = existing[0];
    if (!tenant) {
      tenant = await createTenantsService({ database }).create({ name: demo.name });
      const service = itemsService(database.forTenant({ tenantId: tenant.id }));
      for (const name of demo.items) await service.create({ name });
      console.log(`created tenant ${tenant.name} with ${demo.items.length} items`);
    } else {
      console.log(`tenant ${tenant.name} exists; left as it is`);
    }
    const tenantId = tenant.id;
    // The membership, and a session for the printed token (a sign-in makes its own).
    const session = await database.bypassTenantIsolation("demo seed: membership", async (db) => {
      const [membership] = await db
        .select()
        .from(memberships)
        .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, user.id)));
      if (!membership) {
        await rolesSystemRepository(db).addMember(tenantId, user.id, demo.role);
      }
      const [created] = await db
        .insert(sessions)
        .values({
          userId: user.id,
          currentTenantId: tenantId,
          userAgent: "npm run seed",
          expiresAt: new Date(Date.now() + 86_400_000),
        })
        .returning();
      return created;
    });
    if (!session) throw new Error("the demo session could not be created");
    const token = await tokens.signAccessToken({ sub: user.id, tid: tenantId, sid: session.id });
    console.log(`  ${DEMO_USER.email} is ${demo.role} of ${tenant.slug}`);
    console.log(`  access token for ${tenant.slug} (15 minutes): ${token}`);
  }
  console.log(
    `sign in: POST /api/v1/auth/login {"email": "${DEMO_USER.email}", "password": "${DEMO_USER.password}"}`,
  );
} finally {
  await database.close();
}
