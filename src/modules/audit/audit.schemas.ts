import { z } from "zod";

export const auditEntrySchema = z
  .object({
    id: z.uuid(),
    action: z.string(),
    resourceType: z.string(),
    resourceId: z.string().nullable(),
    actor: z.object({ id: z.uuid(), email: z.string().nullable() }).nullable(),
    changes: z.record(z.string(), z.object({ old: z.unknown(), new: z.unknown() })).nullable(),
    metadata: z.record(z.string(), z.unknown()),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    requestId: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: "AuditEntry" });

export const auditPageSchema = z
  .object({ items: z.array(auditEntrySchema), nextCursor: z.string().nullable() })
  .meta({ id: "AuditPage" });

export const auditQuery = z.strictObject({
  action: z.string().max(100).optional().describe("only this action, e.g. item.updated"),
  resourceType: z.string().max(100).optional().describe("only this resource type, e.g. item"),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional().describe("nextCursor of the previous page"),
});

export type AuditEntry = z.infer<typeof auditEntrySchema>;
