import type { TenantDatabase } from "../../core/database/index.js";
import { idCursor, pageOf } from "../../core/http/cursor.js";
import { auditRepository } from "./audit.repository.js";
import type { AuditEntry } from "./audit.schemas.js";

const cursor = idCursor("a1");

/**
 * Reading the audit log; its rows are written by triggers and `audit.record` (core/audit).
 * Built once, when the module is registered; it needs none of the module dependencies.
 */
export function createAuditService() {
  return {
    /** The audit log of the tenant `tenantDb` is bound to, newest first. */
    async list(
      tenantDb: TenantDatabase,
      query: {
        action?: string | undefined;
        resourceType?: string | undefined;
        limit: number;
        cursor?: string | undefined;
      },
    ) {
      const before = query.cursor === undefined ? undefined : cursor.decode(query.cursor);
      const rows = await tenantDb.transaction((tx) =>
        auditRepository.list(tx, {
          action: query.action,
          resourceType: query.resourceType,
          before,
          limit: query.limit + 1,
        }),
      );
      return pageOf(
        rows,
        query.limit,
        ({ entry, actorEmail }): AuditEntry => ({
          id: entry.id,
          action: entry.action,
          resourceType: entry.resourceType,
          resourceId: entry.resourceId,
          actor: entry.actorId ? { id: entry.actorId, email: actorEmail } : null,
          changes: entry.changes,
          metadata: entry.metadata,
          ip: entry.ip,
          userAgent: entry.userAgent,
          requestId: entry.requestId,
          createdAt: entry.createdAt.toISOString(),
        }),
        (row) => cursor.encode(row.entry.id),
      );
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
