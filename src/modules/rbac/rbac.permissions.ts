import { definePermissions } from "../../core/permissions/index.js";

/**
 * Members and roles. `members:invite` is checked by the invitations module: inviting is one way
 * of managing the tenant's members.
 */
export const rbacPermissions = definePermissions({
  members: {
    actions: {
      read: "List the tenant's members",
      invite: "Invite people and manage invitations",
      update: "Change members' roles",
      delete: "Remove members from the tenant",
    },
    grants: { admin: "*", member: ["read"], viewer: ["read"] },
  },
  roles: {
    actions: {
      read: "List roles",
      create: "Create roles",
      update: "Change roles",
      delete: "Delete roles",
    },
    grants: { admin: "*" },
  },
});
