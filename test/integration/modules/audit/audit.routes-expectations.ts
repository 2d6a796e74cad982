import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** The audit log's read route. */
export default defineRouteExpectations({
  permissions: ["audit:read"],
  defaultGrants: { admin: ["audit:*"] },
  routes: {
    "GET /api/v1/audit-logs": { requires: "audit:read", status: 200, scope: "tenant" },
  },
});
