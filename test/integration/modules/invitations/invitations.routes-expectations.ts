import { randomUUID } from "node:crypto";
import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** Invitations: managing them needs members:invite (rbac's); accepting one, a signed-in user. */
export default defineRouteExpectations({
  permissions: [],
  defaultGrants: {},
  routes: {
    "POST /api/v1/invitations": {
      requires: "members:invite",
      status: 201,
      payload: (setup) => ({
        email: `invitee-${Math.random()}@example.test`,
        roleIds: [setup.viewerRoleId],
      }),
      scope: "tenant",
      isolation: { payload: { email: "someone@example.test", roleIds: [randomUUID()] } },
    },
    "GET /api/v1/invitations": { requires: "members:invite", status: 200, scope: "tenant" },
    "DELETE /api/v1/invitations/{id}": {
      requires: "members:invite",
      status: 204,
      url: (setup) => `/api/v1/invitations/${setup.invitationId}`,
      scope: "tenant",
      isolation: { url: () => `/api/v1/invitations/${randomUUID()}` },
    },
    // Any signed-in user may try a token; this one is unknown.
    "POST /api/v1/invitations/accept": {
      requires: "member",
      status: 400,
      payload: () => ({ token: "A".repeat(43) }),
      scope: "account",
      isolation: { payload: { token: "A".repeat(43) } },
    },
  },
});
