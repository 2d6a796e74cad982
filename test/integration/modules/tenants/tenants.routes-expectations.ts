import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** The tenants routes: creating one is the user's; the current tenant's need its permissions. */
export default defineRouteExpectations({
  permissions: ["tenants:update", "tenants:delete"],
  defaultGrants: { admin: ["tenants:update"] },
  routes: {
    "POST /api/v1/tenants": {
      requires: "member",
      status: 201,
      payload: () => ({ name: `Tenant ${Math.random()}` }),
      scope: "account",
      isolation: { payload: { name: "A tenant of my own" } },
    },
    "GET /api/v1/tenants/current": { requires: "member", status: 200, scope: "tenant" },
    "PATCH /api/v1/tenants/current": {
      requires: "tenants:update",
      status: 200,
      payload: () => ({ name: "Renamed" }),
      scope: "tenant",
      isolation: { payload: { name: "Renamed" } },
    },
    "DELETE /api/v1/tenants/current": { requires: "tenants:delete", status: 204, scope: "tenant" },
  },
});
