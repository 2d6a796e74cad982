import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/** The signed-in user's linked OAuth accounts (sign-in itself is public). */
export default defineRouteExpectations({
  permissions: [],
  defaultGrants: {},
  routes: {
    "GET /api/v1/users/me/accounts": { requires: "member", status: 200, scope: "account" },
    // No provider is configured here: 404 for any member, never 403.
    "POST /api/v1/users/me/accounts/{provider}": {
      requires: "member",
      status: 404,
      url: () => "/api/v1/users/me/accounts/google",
      payload: () => ({}),
      scope: "account",
      isolation: { url: () => "/api/v1/users/me/accounts/github", payload: {} },
    },
    // The arranged users have no linked account: 404 for any member, never 403.
    "DELETE /api/v1/users/me/accounts/{provider}": {
      requires: "member",
      status: 404,
      url: () => "/api/v1/users/me/accounts/google",
      scope: "account",
      isolation: { url: () => "/api/v1/users/me/accounts/github" },
    },
  },
});
