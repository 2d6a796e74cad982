import { desc, eq, lt } from "drizzle-orm";
import { auditLogs } from "../../core/audit/index.js";
import { type TenantTx, users } from "../../core/database/index.js";

/**
 * The audit log of the tenant `tx` was opened for, newest first. The query filters on that
 * tenant (the scoped builder of TenantTx), and row-level security filters again.
 */
export const auditRepository = {
  list(
    tx: TenantTx,
    filters: {
      action?: string | undefined;
      resourceType?: string | undefined;
      before?: string | undefined;
      limit: number;
    },
  ) {
    return tx
      .select({ entry: auditLogs, actorEmail: users.email })
      .from(
        auditLogs,
        filters.action ? eq(auditLogs.action, filters.action) : undefined,
        filters.resourceType ? eq(auditLogs.resourceType, filters.resourceType) : undefined,
        filters.before ? lt(auditLogs.id, filters.before) : undefined,
      )
      .leftJoin(users, eq(users.id, auditLogs.actorId))
      .orderBy(desc(auditLogs.id))
      .limit(filters.limit);
  },
};
