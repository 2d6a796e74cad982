import type { Revocation } from "../../core/auth/index.js";
import type { Database } from "../../core/database/index.js";
import { notFound } from "../../core/errors/index.js";
import { platformAdminsRepository } from "./admin.repository.js";

interface PlatformAdmin {
  readonly id: string;
  readonly email: string;
  readonly name: string;
}

/**
 * Grants and revokes platform administration: the supported way to change
 * `users.is_platform_admin` (`npm run platform-admin`). The change commits, then `revoke`
 * publishes it as a revocation of the user's access, as every change of access does, so each
 * API process reads the user's access again on their next request: a grant applies at once,
 * not after the session guard's minute. (A revocation would apply at once even unpublished: the
 * guard never reuses an answer that grants platform administration.)
 */
export function createPlatformAdmins({
  database,
  revoke,
}: {
  database: Database;
  /** Publishes a revocation to every API process (the session guard's, or the channel's). */
  revoke: (revocation: Revocation) => Promise<void>;
}) {
  async function set(email: string, platformAdmin: boolean): Promise<PlatformAdmin> {
    const user = await database.bypassTenantIsolation(
      `platform admin: ${platformAdmin ? "grant" : "revoke"}`,
      (db) => platformAdminsRepository.set(db, email, platformAdmin),
    );
    if (!user) throw notFound(`No user has the email ${email}.`);
    // Also when the flag already had this value: a change made by hand in SQL is then heard too.
    await revoke({ userId: user.id });
    return user;
  }

  return {
    list(): Promise<PlatformAdmin[]> {
      return database.bypassTenantIsolation("platform admin: list admins", (db) =>
        platformAdminsRepository.list(db),
      );
    },
    grant: (email: string) => set(email, true),
    revoke: (email: string) => set(email, false),
  };
}
