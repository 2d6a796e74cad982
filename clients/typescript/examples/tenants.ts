import { type KitClient, ProblemError, unwrap } from "../src/index.js";

/** The tenants the user belongs to, for a tenant picker, and the one the session is in. */
export async function tenantPicker(api: KitClient) {
  const me = await api.me();
  return {
    current: me.tenant?.id ?? null,
    tenants: me.memberships.map(({ tenant, roles }) => ({ ...tenant, roles })),
  };
}

/**
 * A switch is a new session in that tenant (and a new refresh cookie): everything
 * tenant-scoped on screen belongs to the old one, so fetch it again.
 */
export async function switchTenant(api: KitClient, tenantId: string) {
  const session = await api.switchTenant(tenantId);
  return session.tenant;
}

/**
 * Invites someone with one of the tenant's roles, a system role (`member`, `viewer`, ...) or one
 * of its own; needs `members:invite`.
 */
export async function invite(api: KitClient, email: string, roleName: string) {
  const roles = await unwrap(api.api.GET("/api/v1/roles", { params: { query: { limit: 100 } } }));
  const role = roles.items.find((each) => each.name === roleName);
  if (!role) throw new Error(`no role named ${roleName}`);
  return unwrap(api.api.POST("/api/v1/invitations", { body: { email, roleIds: [role.id] } }));
}

/** The invitation link carries its token: accept it, then switch to the tenant it joins. */
export async function acceptInvitation(api: KitClient, token: string) {
  const { data, error } = await api.api.POST("/api/v1/invitations/accept", { body: { token } });
  if (error) throw new ProblemError(error);
  return switchTenant(api, data.tenant.id);
}
