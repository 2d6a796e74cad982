import { randomUUID } from "node:crypto";
import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** Platform administration: platform admins only, whatever their roles. */
export default defineRouteExpectations({
  permissions: [],
  defaultGrants: {},
  routes: {
    "GET /api/v1/admin/tenants": { requires: "platform-admin", status: 200, scope: "account" },
    "PATCH /api/v1/admin/tenants/{id}": {
      requires: "platform-admin",
      status: 200,
      url: (setup) => `/api/v1/admin/tenants/${setup.tenantId}`,
      payload: () => ({ status: "active" }),
      scope: "account",
      isolation: {
        url: () => `/api/v1/admin/tenants/${randomUUID()}`,
        payload: { status: "active" },
      },
    },
  },
});
