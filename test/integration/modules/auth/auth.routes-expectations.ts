import { randomUUID } from "node:crypto";
import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** The signed-in auth routes (register, login and the mailed-token flows are public). */
export default defineRouteExpectations({
  permissions: [],
  defaultGrants: {},
  routes: {
    "GET /api/v1/auth/me": { requires: "member", status: 200, scope: "account" },
    "POST /api/v1/auth/logout-all": { requires: "member", status: 204, scope: "account" },
    "POST /api/v1/auth/switch-tenant": {
      requires: "member",
      status: 200,
      payload: (setup) => ({ tenantId: setup.tenantId }),
      scope: "account",
      isolation: { payload: { tenantId: randomUUID() } },
    },
    // The arranged users have no password, so the current one is always wrong: 422, not 403.
    "POST /api/v1/auth/password/change": {
      requires: "member",
      status: 422,
      payload: () => ({ currentPassword: "not set at all", newPassword: "a brand new passphrase" }),
      scope: "account",
      isolation: {
        payload: { currentPassword: "whatever it was", newPassword: "a brand new passphrase" },
      },
    },
    "POST /api/v1/auth/email/verify/resend": { requires: "member", status: 202, scope: "account" },
  },
});
