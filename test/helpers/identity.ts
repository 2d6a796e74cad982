import { eq } from "drizzle-orm";
import { type Database, users } from "../../src/core/database/index.js";
import type { DefaultRoleName } from "../../src/core/permissions/index.js";
import { createMember, createSession, createUser } from "./factories.js";

/**
 * Arranges a user who is a member of `tenantId` with a live session, straight in the database
 * (no password hashing), for tests about something other than signing in. Built from the
 * factories (factories.ts), with the tenant's id alone.
 */
export async function createSignedInMember(
  database: Database,
  tenantId: string,
  options: { role?: DefaultRoleName; email?: string } = {},
): Promise<{ userId: string; sessionId: string; email: string }> {
  const user = await createUser(database, options.email ? { email: options.email } : {});
  await createMember(database, { tenant: tenantId, user, role: options.role ?? "owner" });
  const session = await createSession(database, user.id, { tenantId });
  return { userId: user.id, sessionId: session.id, email: user.email };
}

/** Marks a user's email verified, as following the mailed link does. */
export async function markEmailVerified(database: Database, userId: string): Promise<void> {
  await database.bypassTenantIsolation("test arrangement", (db) =>
    db.update(users).set({ emailVerifiedAt: new Date() }).where(eq(users.id, userId)),
  );
}
