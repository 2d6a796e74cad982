import { and, desc, eq, lt } from "drizzle-orm";
import { auditLogs } from "../../core/audit/index.js";
import { type Db, users } from "../../core/database/index.js";

/** The current tenant's audit log, newest first, inside a tenant transaction. */
export function auditRepository(db: Db) {
  return {
    list(filters: {
      action?: string | undefined;
      resourceType?: string | undefined;
      before?: string | undefined;
      limit: number;
    }) {
      return db
        .select({ entry: auditLogs, actorEmail: users.email })
        .from(auditLogs)
        .leftJoin(users, eq(users.id, auditLogs.actorId))
        .where(
          and(
            filters.action ? eq(auditLogs.action, filters.action) : undefined,
            filters.resourceType ? eq(auditLogs.resourceType, filters.resourceType) : undefined,
            filters.before ? lt(auditLogs.id, filters.before) : undefined,
          ),
        )
        .orderBy(desc(auditLogs.id))
        .limit(filters.limit);
    },
  };
}
