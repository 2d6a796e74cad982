export { id, newId, timestamps } from "./columns.js";
export type { Database, Db, TenantDatabase, TenantScope } from "./database.js";
export { sqlStateOf } from "./errors.js";
export { migrateDatabase } from "./migrations.js";
export { openDatabase } from "./open.js";
export { type PreparedStatement, param, prepareStatement } from "./statements.js";
export { tenantId } from "./tenant-column.js";
export {
  TENANT_PLANS,
  TENANT_STATUSES,
  type TenantPlan,
  type TenantRow,
  tenants,
} from "./tenants.table.js";
