import { randomUUID } from "node:crypto";
import { FRONTEND_URL } from "../topology/kit-env.js";
import type { Topology } from "../topology/topology.js";
import { type PlannedRequest, send } from "./load.js";

/**
 * A tenant of the fault suite: its owner's token, the id of its member role, and custom roles
 * made for the load. Roles are the tenant rows every project keeps (row-level security, audited),
 * so the suite runs the same once the items example is removed.
 */
export interface Tenant {
  readonly email: string;
  /** Renewed before each scenario (signIn): access tokens live 15 minutes. */
  token: string;
  readonly tenantId: string;
  readonly memberRoleId: string;
  /** Custom roles (granting nothing) the fixture made: the rows the scenarios change. */
  readonly roleIds: string[];
}

export const OWNER_PASSWORD = "violet harbour quietly juggles seventeen lanterns";

async function must(topology: Topology, request: PlannedRequest, status: number) {
  const outcome = await send(topology.url, request, 15_000);
  if (outcome.status !== status) {
    throw new Error(
      `${request.method} ${request.path} answered ${outcome.status ?? outcome.error}, not ${status}`,
    );
  }
  return outcome;
}

async function json<T>(topology: Topology, path: string, token: string): Promise<T> {
  const response = await fetch(`${topology.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return (await response.json()) as T;
}

/** A custom role granting nothing: a tenant row to write, and no change to anyone's access. */
const roleBody = (name: string) => ({ name, permissions: [] });

export async function prepareTenant(topology: Topology, customRoles: number): Promise<Tenant> {
  const email = `owner-${randomUUID()}@example.test`;
  const response = await fetch(`${topology.url}/api/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      email,
      password: OWNER_PASSWORD,
      name: "Ada",
      tenantName: `Chaos ${email.slice(6, 14)}`,
    }),
  });
  if (response.status !== 201) {
    throw new Error(`registering answered ${response.status}: ${await response.text()}`);
  }
  const body = (await response.json()) as { accessToken: string; tenant: { id: string } };
  // Only a verified owner may invite: follow the link of the verification mail.
  const prefix = `${FRONTEND_URL}/verify-email?token=`;
  const mail = await topology.mail.waitFor(
    (message) => message.to.includes(email) && message.text.includes(prefix),
    30_000,
  );
  const link = mail.text.split(/\s+/).find((word) => word.startsWith(prefix)) as string;
  await must(
    topology,
    {
      method: "POST",
      path: "/api/v1/auth/email/verify",
      body: { token: new URL(link).searchParams.get("token") },
    },
    204,
  );
  const roles = await json<{ items: { id: string; name: string }[] }>(
    topology,
    "/api/v1/roles",
    body.accessToken,
  );
  const member = roles.items.find((role) => role.name === "member");
  if (!member) throw new Error("the tenant has no member role");
  const tenant: Tenant = {
    email,
    token: body.accessToken,
    tenantId: body.tenant.id,
    memberRoleId: member.id,
    roleIds: [],
  };
  for (let n = 0; n < customRoles; n += 1) {
    const created = await must(
      topology,
      { method: "POST", path: "/api/v1/roles", token: tenant.token, body: roleBody(`seed ${n}`) },
      201,
    );
    tenant.roleIds.push(created.createdId as string);
  }
  return tenant;
}

/** Signs the tenant's owner in again for a fresh access token. */
export async function signIn(topology: Topology, tenant: Tenant): Promise<void> {
  const response = await fetch(`${topology.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: tenant.email, password: OWNER_PASSWORD }),
  });
  if (response.status !== 200) {
    throw new Error(`signing in answered ${response.status}: ${await response.text()}`);
  }
  tenant.token = ((await response.json()) as { accessToken: string }).accessToken;
}

/**
 * Two reads of a tenant's rows under row-level security, in turn: a page of its roles, and a
 * page of its members (memberships, their roles and their users joined).
 */
export function tenantRead(tenant: Tenant, n: number): PlannedRequest {
  return n % 2 === 0
    ? { method: "GET", path: "/api/v1/roles?limit=20", token: tenant.token }
    : { method: "GET", path: "/api/v1/members?limit=20", token: tenant.token };
}

/** Reads and writes of every tenant in turn: two reads, then a write (a new custom role). */
export function readWritePlan(tenants: readonly Tenant[]) {
  return (n: number): PlannedRequest => {
    const tenant = tenants[n % tenants.length] as Tenant;
    if (n % 3 !== 0) return tenantRead(tenant, n);
    return {
      method: "POST",
      path: "/api/v1/roles",
      token: tenant.token,
      // Role names are unique in a tenant, and every scenario's load counts n from 0 again.
      body: roleBody(`chaos ${randomUUID()}`),
      write: true,
    };
  };
}

/** Reads only (the Redis scenario: reads must keep working without Redis). */
export function readPlan(tenants: readonly Tenant[]) {
  return (n: number): PlannedRequest => tenantRead(tenants[n % tenants.length] as Tenant, n);
}

export function invitation(tenant: Tenant, email: string): PlannedRequest {
  return {
    method: "POST",
    path: "/api/v1/invitations",
    token: tenant.token,
    body: { email, roleIds: [tenant.memberRoleId] },
  };
}
