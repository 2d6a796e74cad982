import type { AuditEvent, AuditLog } from "../../core/audit/index.js";
import type { Database } from "../../core/database/index.js";
import type { UsersService } from "../users/index.js";

/**
 * Records an event of the user's account (not of one session) in the audit log of every
 * tenant the user is an active member of: each tenant's admins see what happened to an
 * account that can reach their data, whichever tenant the user was in at the time.
 */
export function createAccountAudit(options: {
  database: Database;
  audit: AuditLog;
  users: UsersService;
}) {
  const { database, audit, users } = options;
  return async function recordForAccount(
    userId: string,
    event: Omit<AuditEvent, "tenantId">,
  ): Promise<void> {
    const tenants = await database.bypassTenantIsolation(
      "audit: the account's tenants",
      (db) => users.tenantsOf(db, userId),
      { logLevel: "debug" },
    );
    for (const tenant of tenants) await audit.record({ ...event, tenantId: tenant.id });
  };
}

export type AccountAudit = ReturnType<typeof createAccountAudit>;
