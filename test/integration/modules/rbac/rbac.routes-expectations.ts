import { randomUUID } from "node:crypto";
import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** The catalog, roles and members routes. */
export default defineRouteExpectations({
  permissions: [
    "members:read",
    "members:invite",
    "members:update",
    "members:delete",
    "roles:read",
    "roles:create",
    "roles:update",
    "roles:delete",
  ],
  defaultGrants: {
    admin: ["members:*", "roles:*"],
    member: ["members:read"],
    viewer: ["members:read"],
  },
  routes: {
    "GET /api/v1/permissions": { requires: "member", status: 200, scope: "account" },
    "GET /api/v1/roles": { requires: "roles:read", status: 200, scope: "tenant" },
    "POST /api/v1/roles": {
      requires: "roles:create",
      status: 201,
      payload: () => ({ name: `role ${Math.random()}`, permissions: ["notes:read"] }),
      scope: "tenant",
      isolation: { payload: { name: "Auditors", permissions: ["notes:read"] } },
    },
    "PATCH /api/v1/roles/{id}": {
      requires: "roles:update",
      status: 200,
      url: (setup) => `/api/v1/roles/${setup.customRoleId}`,
      payload: () => ({ description: "changed" }),
      scope: "tenant",
      isolation: {
        url: () => `/api/v1/roles/${randomUUID()}`,
        payload: { description: "changed" },
      },
    },
    "DELETE /api/v1/roles/{id}": {
      requires: "roles:delete",
      status: 204,
      url: (setup) => `/api/v1/roles/${setup.customRoleId}`,
      scope: "tenant",
      isolation: { url: () => `/api/v1/roles/${randomUUID()}` },
    },
    "GET /api/v1/members": { requires: "members:read", status: 200, scope: "tenant" },
    "PUT /api/v1/members/{userId}/roles": {
      requires: "members:update",
      status: 200,
      url: (setup) => `/api/v1/members/${setup.otherMemberId}/roles`,
      payload: (setup) => ({ roleIds: [setup.viewerRoleId] }),
      scope: "tenant",
      isolation: {
        url: () => `/api/v1/members/${randomUUID()}/roles`,
        payload: { roleIds: [randomUUID()] },
      },
    },
    "DELETE /api/v1/members/{userId}": {
      requires: "members:delete",
      status: 204,
      url: (setup) => `/api/v1/members/${setup.otherMemberId}`,
      scope: "tenant",
      isolation: { url: () => `/api/v1/members/${randomUUID()}` },
    },
  },
});
