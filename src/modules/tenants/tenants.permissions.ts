import { definePermissions } from "../../core/permissions/index.js";

/** The current tenant's own settings; deleting it is the owner's alone. */
export const tenantsPermissions = definePermissions({
  tenants: {
    actions: {
      update: "Rename the tenant",
      delete: "Delete the tenant and all its data",
    },
    grants: { admin: ["update"] },
  },
});
