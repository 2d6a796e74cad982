import { defineRouteExpectations } from "../../../helpers/route-expectations.js";

/**
 * The items routes: who may call each, and the requests the matrix and isolation tests send.
 * `arrange` makes the item the matrix calls.
 */
export default defineRouteExpectations({
  permissions: ["items:read", "items:create", "items:update", "items:delete"],
  defaultGrants: {
    admin: ["items:*"],
    member: ["items:read", "items:create", "items:update"],
    viewer: ["items:read"],
  },
  arrange: async (send) => {
    const created = await send({
      method: "POST",
      url: "/api/v1/items",
      payload: { name: "existing" },
    });
    if (created.statusCode !== 201) throw new Error(`arranging an item: ${created.body}`);
    return { itemId: created.json<{ id: string }>().id };
  },
  routes: {
    "GET /api/v1/items": { requires: "items:read", status: 200, scope: "tenant" },
    "POST /api/v1/items": {
      requires: "items:create",
      status: 201,
      payload: () => ({ name: "x" }),
      scope: "tenant",
      isolation: { payload: { name: "new item" } },
    },
    "GET /api/v1/items/{id}": {
      requires: "items:read",
      status: 200,
      url: ({ arranged }) => `/api/v1/items/${arranged.itemId}`,
      scope: "tenant",
      isolation: { url: (id) => `/api/v1/items/${id}` },
    },
    "PATCH /api/v1/items/{id}": {
      requires: "items:update",
      status: 200,
      url: ({ arranged }) => `/api/v1/items/${arranged.itemId}`,
      payload: () => ({ name: "renamed" }),
      scope: "tenant",
      isolation: {
        url: (id) => `/api/v1/items/${id}`,
        payload: { name: "changed", description: "changed" },
      },
    },
    "DELETE /api/v1/items/{id}": {
      requires: "items:delete",
      status: 204,
      url: ({ arranged }) => `/api/v1/items/${arranged.itemId}`,
      scope: "tenant",
      isolation: { url: (id) => `/api/v1/items/${id}` },
    },
  },
});
