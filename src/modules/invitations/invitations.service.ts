import { and, eq, sql } from "drizzle-orm";
import type { Config } from "../../config.js";
import type { AuditLog } from "../../core/audit/index.js";
import type { Access, SessionGuard } from "../../core/auth/index.js";
import {
  type Database,
  memberships,
  type TenantDatabase,
  tenants,
  users,
} from "../../core/database/index.js";
import { AppError, conflict, forbidden, notFound } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import { idCursor, pageOf } from "../../core/http/cursor.js";
import type { Jobs } from "../../core/jobs/index.js";
import type { SendEmailJob } from "../../core/mail/index.js";
import { hashOpaqueToken, newOpaqueToken, OPAQUE_TOKEN_PATTERN } from "../auth/index.js";
import { ensureHeld, rbacRepository } from "../rbac/index.js";
import { invitationsRepository, invitationsSystemRepository } from "./invitations.repository.js";
import type { InvitationResponse } from "./invitations.schemas.js";
import type { InvitationRow } from "./invitations.table.js";

/** An invitation is valid this long. */
const INVITATION_TTL_MS = 7 * 24 * 3_600_000;
const cursor = idCursor("v1");

type RoleRef = { id: string; name: string };

function toInvitation(row: InvitationRow, roleNames: Map<string, string>): InvitationResponse {
  return {
    id: row.id,
    email: row.email,
    roles: row.roleIds.flatMap((id) => {
      const name = roleNames.get(id);
      return name ? [{ id, name }] : [];
    }),
    expiresAt: row.expiresAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
  };
}

const invalidRoles = () =>
  new AppError("validation-failed", "The request is invalid; see errors for each field.", {
    errors: [{ field: "roleIds", message: "names a role this tenant does not have" }],
  });

export interface InvitationsServiceOptions {
  config: Config;
  database: Database;
  jobs: Jobs;
  sendEmail: SendEmailJob;
  sessions: SessionGuard;
  audit: AuditLog;
}

/** Invitations: created and mailed by members who may invite, accepted by the invitee. */
export function createInvitationsService(options: InvitationsServiceOptions) {
  const { config, database, jobs, sendEmail, sessions, audit } = options;
  return {
    async create(
      tenantDb: TenantDatabase,
      access: Access,
      input: { email: string; roleIds: string[] },
    ) {
      const tenantId = tenantDb.scope.tenantId;
      return tenantDb.transaction(async (db) => {
        const roles = await rbacRepository(db, tenantId).findRoles(input.roleIds);
        if (roles.length !== input.roleIds.length) throw invalidRoles();
        ensureHeld(
          access,
          roles.flatMap((role) => role.permissions),
        );
        const [existing] = await db
          .select({ userId: memberships.userId })
          .from(memberships)
          .innerJoin(users, eq(users.id, memberships.userId))
          .where(sql`lower(${users.email}) = lower(${input.email})`);
        if (existing) throw conflict("This person is already a member of the tenant.");

        const token = newOpaqueToken();
        const row = await invitationsRepository(db, tenantId).insert({
          email: input.email,
          roleIds: input.roleIds,
          tokenHash: hashOpaqueToken(token),
          invitedBy: tenantDb.scope.userId ?? null,
          expiresAt: new Date(Date.now() + INVITATION_TTL_MS),
        });
        const [tenant] = await db.select({ name: tenants.name }).from(tenants);
        const [inviter] = await db
          .select({ name: users.name })
          .from(users)
          .where(eq(users.id, tenantDb.scope.userId ?? ""));
        const link = `${config.frontendUrl}/invitations/accept?token=${encodeURIComponent(token)}`;
        await jobs.enqueue(
          sendEmail,
          {
            to: input.email,
            template: "invitation",
            data: {
              tenantName: tenant?.name ?? "a tenant",
              inviterName: inviter?.name ?? "A member",
              link,
            },
          },
          { transaction: db },
        );
        const names = new Map(roles.map((role) => [role.id, role.name]));
        return { ...toInvitation(row, names), token };
      });
    },

    async listPending(tenantDb: TenantDatabase, limit: number, after: string | undefined) {
      const tenantId = tenantDb.scope.tenantId;
      const { rows, names } = await tenantDb.transaction(async (db) => {
        const rows = await invitationsRepository(db, tenantId).listPending(
          limit + 1,
          after === undefined ? undefined : cursor.decode(after),
        );
        const ids = [...new Set(rows.flatMap((row) => row.roleIds))];
        const roles = await rbacRepository(db, tenantId).findRoles(ids);
        return { rows, names: new Map(roles.map((role) => [role.id, role.name])) };
      });
      return pageOf(
        rows,
        limit,
        (row) => toInvitation(row, names),
        (row) => cursor.encode(row.id),
      );
    },

    async revoke(tenantDb: TenantDatabase, id: string): Promise<void> {
      const revoked = await tenantDb.transaction((db) =>
        invitationsRepository(db, tenantDb.scope.tenantId).revoke(id),
      );
      if (!revoked) {
        throw notFound(
          "The invitation does not exist or is no longer pending (accepted, revoked or expired).",
        );
      }
    },

    /**
     * Makes the signed-in user a member of the invitation's tenant with its roles. The user's
     * email must be verified and match the invitation; the token works once.
     */
    async accept(principal: Principal, token: string) {
      const accepted = await database.bypassTenantIsolation("invitation acceptance", async (db) => {
        const [user] = await db.select().from(users).where(eq(users.id, principal.userId));
        if (!user) throw notFound("The account does not exist.");
        if (!user.emailVerifiedAt) {
          throw forbidden("Verify your email address before accepting an invitation.");
        }
        const invitation = OPAQUE_TOKEN_PATTERN.test(token)
          ? await invitationsSystemRepository(db).accept(hashOpaqueToken(token), user.id)
          : undefined;
        if (!invitation) {
          throw new AppError("bad-request", "The invitation is invalid, used, revoked or expired.");
        }
        if (invitation.email.toLowerCase() !== user.email.toLowerCase()) {
          throw forbidden("This invitation was sent to another email address.");
        }
        const tenantId = invitation.tenantId;
        const [target] = await db
          .select({ status: tenants.status })
          .from(tenants)
          .where(eq(tenants.id, tenantId));
        if (target?.status !== "active") throw forbidden("This tenant is suspended.");
        const [member] = await db
          .select({ userId: memberships.userId })
          .from(memberships)
          .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, user.id)));
        if (member) throw conflict("You are already a member of this tenant.");
        await db.insert(memberships).values({ tenantId, userId: user.id });
        // Roles deleted since the invitation was made are skipped.
        const repository = rbacRepository(db, tenantId);
        const roles: RoleRef[] = (await repository.findRoles(invitation.roleIds)).map(
          ({ id, name }) => ({ id, name }),
        );
        await repository.setMemberRoles(
          user.id,
          roles.map((role) => role.id),
        );
        const [tenant] = await db
          .select({ id: tenants.id, name: tenants.name, slug: tenants.slug })
          .from(tenants)
          .where(eq(tenants.id, tenantId));
        if (!tenant) throw notFound("The tenant does not exist.");
        return { invitationId: invitation.id, tenant, roles };
      });
      await sessions.revoke({ userId: principal.userId, tenantId: accepted.tenant.id });
      await audit.record({
        tenantId: accepted.tenant.id,
        actorId: principal.userId,
        action: "invitation.accepted",
        resourceType: "invitation",
        resourceId: accepted.invitationId,
      });
      return { tenant: accepted.tenant, roles: accepted.roles };
    },
  };
}

export type InvitationsService = ReturnType<typeof createInvitationsService>;
