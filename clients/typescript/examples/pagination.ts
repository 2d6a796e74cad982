import { type components, type KitClient, paginate, unwrap } from "../src/index.js";

type Role = components["schemas"]["Role"];

/** One page at a time, for a "Load more" button: keep `nextCursor` until it is null. */
export async function rolesPage(api: KitClient, cursor?: string) {
  return unwrap(api.api.GET("/api/v1/roles", { params: { query: { limit: 20, cursor } } }));
}

/**
 * Every role of the tenant, the system roles first, then its own in the order they were made;
 * `paginate` fetches the next page as the loop needs it.
 */
export async function allRoles(api: KitClient, pageSize = 50): Promise<Role[]> {
  const roles: Role[] = [];
  const pages = paginate((cursor) =>
    api.api.GET("/api/v1/roles", { params: { query: { limit: pageSize, cursor } } }),
  );
  for await (const role of pages) roles.push(role);
  return roles;
}
