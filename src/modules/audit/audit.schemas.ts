import { z } from "zod";
import { pageQueryFields, pageSchemaOf } from "../../core/http/cursor.js";

const auditEntrySchema = z
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

export const auditPageSchema = pageSchemaOf(auditEntrySchema).meta({ id: "AuditPage" });

export const auditQuery = z.strictObject({
  action: z.string().max(100).optional().describe("only this action, e.g. item.updated"),
  resourceType: z.string().max(100).optional().describe("only this resource type, e.g. item"),
  ...pageQueryFields,
});

export type AuditEntry = z.infer<typeof auditEntrySchema>;
