export { type AuditEvent, type AuditLog, createAuditLog } from "./audit.js";
export { auditLogs } from "./audit-logs.table.js";
