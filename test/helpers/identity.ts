import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { type Database, newId, sessions, users } from "../../src/core/database/index.js";
import type { DefaultRoleName } from "../../src/core/permissions/index.js";
import { rolesSystemRepository } from "../../src/modules/rbac/index.js";

/**
 * Arranges a user who is a member of `tenantId` with a live session, straight in the database
 * (no password hashing), for tests about something other than signing in.
 */
export async function createSignedInMember(
  database: Database,
  tenantId: string,
  options: { role?: DefaultRoleName; email?: string } = {},
): Promise<{ userId: string; sessionId: string; email: string }> {
  const userId = newId();
  const sessionId = newId();
  const email = options.email ?? `user-${randomUUID()}@example.test`;
  await database.bypassTenantIsolation("test arrangement", async (db) => {
    await db.insert(users).values({
      id: userId,
      email,
      name: "Test User",
      passwordHash: null,
      emailVerifiedAt: new Date(),
    });
    await rolesSystemRepository(db).addMember(tenantId, userId, options.role ?? "owner");
    await db.insert(sessions).values({
      id: sessionId,
      userId,
      currentTenantId: tenantId,
      expiresAt: new Date(Date.now() + 86_400_000),
    });
  });
  return { userId, sessionId, email };
}

/** Marks a user's email verified, as following the mailed link does. */
export async function markEmailVerified(database: Database, userId: string): Promise<void> {
  await database.bypassTenantIsolation("test arrangement", (db) =>
    db.update(users).set({ emailVerifiedAt: new Date() }).where(eq(users.id, userId)),
  );
}
