/**
 * Demo data for development: two tenants with a few items each, and an access token per
 * tenant to try the API from /docs. Idempotent (an existing demo tenant is left as it is).
 * Refused in staging and production. With the embedded database, stop the dev server first:
 * PGlite allows one process at a time.
 */
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { isStrictEnvironment, loadProcessConfig } from "../src/config.js";
import { createTokenService } from "../src/core/auth/index.js";
import { openDatabase, tenants } from "../src/core/database/index.js";
import { createLogger } from "../src/core/logging/index.js";
import { itemsService } from "../src/modules/items/index.js";
import { createTenantsService } from "../src/modules/tenants/index.js";

const DEMO = [
  {
    name: "Acme Corporation",
    slug: "acme-corporation",
    items: ["Rocket skates", "Giant magnet", "Tornado seeds"],
  },
  { name: "Globex", slug: "globex", items: ["Doomsday device", "Hammock"] },
];

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
    const token = await tokens.signAccessToken({
      sub: randomUUID(),
      tid: tenant.id,
      sid: randomUUID(),
    });
    console.log(`  access token for ${tenant.slug} (15 minutes): ${token}`);
  }
} finally {
  await database.close();
}
