import { definePermissions } from "../../core/permissions/index.js";

/** Reading the tenant's audit log. */
export const auditPermissions = definePermissions({
  audit: {
    actions: { read: "Read the audit log" },
    grants: { admin: "*" },
  },
});
