export { newId } from "./columns.js";
export type { Database, Db, TenantDatabase, TenantScope } from "./database.js";
export { isUniqueViolation, sqlStateOf } from "./errors.js";
export { type MembershipRow, memberships } from "./memberships.table.js";
export { migrateDatabase } from "./migrations.js";
export { openDatabase } from "./open.js";
export { type SessionRow, sessions } from "./sessions.table.js";
export { param, prepareStatement } from "./statements.js";
export {
  TENANT_PLANS,
  type TenantPlan,
  type TenantRow,
  tenants,
} from "./tenants.table.js";
export type { Condition, SystemTx, TenantTx } from "./transactions.js";
export { type UserRow, users } from "./users.table.js";
