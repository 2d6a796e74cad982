import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** The signed-in user's own account. */
export default defineRouteExpectations({
  permissions: [],
  defaultGrants: {},
  routes: {
    "GET /api/v1/users/me": { requires: "member", status: 200, scope: "account" },
    "PATCH /api/v1/users/me": {
      requires: "member",
      status: 200,
      payload: () => ({ name: "N" }),
      scope: "account",
      isolation: { payload: { name: "Renamed" } },
    },
  },
});
