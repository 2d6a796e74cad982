import { definePermissions } from "../../core/permissions/index.js";

/** The items module's permissions, and which default roles hold them. */
export const itemsPermissions = definePermissions({
  items: {
    actions: {
      read: "List and read items",
      create: "Create items",
      update: "Change items",
      delete: "Delete items",
    },
    grants: { admin: "*", member: ["read", "create", "update"], viewer: ["read"] },
  },
});
