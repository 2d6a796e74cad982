import type { Database } from "../database/index.js";
import { currentContext } from "../logging/index.js";
import { auditLogs } from "./audit-logs.table.js";

/** An event worth keeping in a tenant's audit log, beyond the row changes triggers record. */
export interface AuditEvent {
  /** `<resource>.<verb>`, e.g. `auth.login`, `auth.refresh_token_reused`. */
  readonly action: string;
  readonly resourceType: string;
  readonly resourceId?: string | undefined;
  /** Facts about the event. Never secrets: no tokens, no passwords, no hashes. */
  readonly metadata?: Record<string, unknown>;
  /** Defaults to the request context's tenant and user. */
  readonly tenantId?: string | undefined;
  readonly actorId?: string | undefined;
}

export interface AuditLog {
  /** Appends the event to its tenant's log, with the request's id, IP and user agent. */
  record(event: AuditEvent): Promise<void>;
}

export function createAuditLog(database: Database): AuditLog {
  return {
    async record(event) {
      const context = currentContext();
      const tenantId = event.tenantId ?? context?.tenantId;
      if (!tenantId) throw new Error(`audit event ${event.action} has no tenant`);
      await database.bypassTenantIsolation(
        "audit record",
        (db) =>
          db.insert(auditLogs).values({
            tenantId,
            action: event.action,
            resourceType: event.resourceType,
            resourceId: event.resourceId ?? null,
            actorId: event.actorId ?? context?.userId ?? null,
            metadata: event.metadata ?? {},
            ip: context?.ip ?? null,
            userAgent: context?.userAgent ?? null,
            requestId: context?.requestId ?? null,
          }),
        { logLevel: "debug" },
      );
    },
  };
}
