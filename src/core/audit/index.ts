export { type AuditEvent, type AuditLog, createAuditLog } from "./audit.js";
export { type AuditLogRow, auditLogs } from "./audit-logs.table.js";
