import type { Config } from "../../config.js";
import type { AuditLog } from "../../core/audit/index.js";
import type { Access, SessionGuard } from "../../core/auth/index.js";
import {
  type Database,
  isUniqueViolation,
  type SystemTx,
  type TenantDatabase,
} from "../../core/database/index.js";
import { AppError, conflict, forbidden, notFound } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import { idCursor, pageOf } from "../../core/http/cursor.js";
import type { ExpiredRowsCleanup, Jobs } from "../../core/jobs/index.js";
import type { SendEmailJob } from "../../core/mail/index.js";
import { expandGrants } from "../../core/permissions/index.js";
import type { LimiterFactory } from "../../core/rate-limit/index.js";
import { hashOpaqueToken, newOpaqueToken, OPAQUE_TOKEN_PATTERN } from "../auth/index.js";
import { ensureHeld, grantsNotHeld, type RolesService } from "../rbac/index.js";
import { createInvitationLimits } from "./invitation-limits.js";
import {
  type InvitationRow,
  invitationsRepository,
  invitationsSystemRepository,
} from "./invitations.repository.js";
import type { InvitationResponse } from "./invitations.schemas.js";

/** An invitation is valid this long. */
const INVITATION_TTL_MS = 7 * 24 * 3_600_000;
/** Ended invitations are kept this long (who invited whom), then deleted by the daily cleanup. */
const ENDED_RETENTION_DAYS = 30;

export const invitationsCleanups: readonly ExpiredRowsCleanup[] = [
  {
    name: "ended invitations",
    run: (db, now) =>
      invitationsSystemRepository.deleteEndedBefore(
        db,
        new Date(now.getTime() - ENDED_RETENTION_DAYS * 86_400_000),
      ),
  },
];
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
  limiters: LimiterFactory;
  /** The roles an invitation grants, and the inviter's. */
  tenantRoles: RolesService;
}

/** The permission that lets a member invite. */
const INVITE = "members:invite";

/** Invitations: created and mailed by members who may invite, accepted by the invitee. */
export function createInvitationsService(options: InvitationsServiceOptions) {
  const { config, database, jobs, sendEmail, sessions, audit, tenantRoles } = options;
  const limits = createInvitationLimits(options.limiters, config.invitations);

  /**
   * Whether the member who made `invitation` may still make it: an active user, an active
   * member of its tenant, holding `members:invite` and every permission its roles grant today,
   * by the rule of `ensureHeld` (so a platform admin who is still a member may).
   */
  async function inviterMayStillInvite(db: SystemTx, invitation: InvitationRow): Promise<boolean> {
    const { tenantId, invitedBy } = invitation;
    if (!invitedBy) return false;
    const standing = await invitationsSystemRepository.memberStanding(db, tenantId, invitedBy);
    if (!standing) return false;
    const grants =
      (await tenantRoles.rolesOfMember(db, invitedBy, [tenantId])).get(tenantId)?.grants ?? [];
    const inviter: Access = {
      permissions: new Set(expandGrants(grants)),
      grants,
      platformAdmin: standing.platformAdmin,
    };
    const roles = await tenantRoles.findTenantRoles(db, tenantId, invitation.roleIds);
    return (
      grantsNotHeld(inviter, [INVITE, ...roles.flatMap((role) => role.permissions)]).length === 0
    );
  }

  return {
    /**
     * Invites `email` with `roleIds`, replacing any open invitation to the same address. The
     * inviter's email must be verified; the invitation counts toward the inviter's and the
     * tenant's limits only once every other check has passed.
     */
    async create(
      tenantDb: TenantDatabase,
      access: Access,
      input: { email: string; roleIds: string[] },
    ) {
      const tenantId = tenantDb.scope.tenantId;
      const inviterId = tenantDb.scope.userId;
      if (!inviterId) throw forbidden("Only a signed-in member may invite.");
      let counted = false;
      try {
        return await tenantDb.transaction(async (tx) => {
          const inviter = await invitationsRepository.inviter(tx);
          if (!inviter?.emailVerified) {
            throw forbidden("Verify your email address before inviting anyone.");
          }
          const roles = await tenantRoles.findRoles(tx, input.roleIds);
          if (roles.length !== input.roleIds.length) throw invalidRoles();
          ensureHeld(
            access,
            roles.flatMap((role) => role.permissions),
          );
          if (await invitationsRepository.isMember(tx, input.email)) {
            throw conflict("This person is already a member of the tenant.");
          }

          counted = await limits.take(tenantId, inviterId, (since) =>
            invitationsRepository.countMadeSince(tx, inviterId, since),
          );
          // One open invitation per address: this one replaces any earlier one.
          await invitationsRepository.lockAddress(tx, input.email);
          await invitationsRepository.revokeOpenTo(tx, input.email);
          const token = newOpaqueToken();
          const row = await invitationsRepository.insert(tx, {
            email: input.email,
            roleIds: input.roleIds,
            tokenHash: hashOpaqueToken(token),
            invitedBy: inviterId,
            expiresAt: new Date(Date.now() + INVITATION_TTL_MS),
          });
          const link = `${config.frontendUrl}/invitations/accept?token=${encodeURIComponent(token)}`;
          await jobs.enqueue(
            sendEmail,
            {
              to: input.email,
              template: "invitation",
              data: {
                tenantName: (await invitationsRepository.tenantName(tx)) ?? "a tenant",
                inviterName: inviter.name,
                link,
              },
            },
            { transaction: tx },
          );
          const names = new Map(roles.map((role) => [role.id, role.name]));
          return { ...toInvitation(row, names), token };
        });
      } catch (error) {
        if (counted) await limits.giveBack(tenantId, inviterId);
        // The address lock makes this unreachable unless something else inserts invitations.
        if (isUniqueViolation(error)) {
          throw conflict("Another invitation to this address was made at the same time; retry.");
        }
        throw error;
      }
    },

    async listPending(tenantDb: TenantDatabase, limit: number, after: string | undefined) {
      const { rows, names } = await tenantDb.transaction(async (tx) => {
        const rows = await invitationsRepository.listPending(
          tx,
          limit + 1,
          after === undefined ? undefined : cursor.decode(after),
        );
        const ids = [...new Set(rows.flatMap((row) => row.roleIds))];
        const roles = await tenantRoles.findRoles(tx, ids);
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
      const revoked = await tenantDb.transaction((tx) => invitationsRepository.revoke(tx, id));
      if (!revoked) {
        throw notFound(
          "The invitation does not exist or is no longer pending (accepted, revoked or expired).",
        );
      }
    },

    /**
     * Makes the signed-in user a member of the invitation's tenant with its roles. The user's
     * email must be verified and match the invitation; the token works once. The member who
     * sent it must still be allowed to: otherwise the invitation is revoked and the answer is 403.
     */
    async accept(principal: Principal, token: string) {
      const outcome = await database.bypassTenantIsolation("invitation acceptance", async (db) => {
        const user = await invitationsSystemRepository.user(db, principal.userId);
        if (!user) throw notFound("The account does not exist.");
        if (!user.emailVerified) {
          throw forbidden("Verify your email address before accepting an invitation.");
        }
        const invitation = OPAQUE_TOKEN_PATTERN.test(token)
          ? await invitationsSystemRepository.findPendingForUpdate(db, hashOpaqueToken(token))
          : undefined;
        if (!invitation) {
          throw new AppError("bad-request", "The invitation is invalid, used, revoked or expired.");
        }
        if (invitation.email.toLowerCase() !== user.email.toLowerCase()) {
          throw forbidden("This invitation was sent to another email address.");
        }
        const tenantId = invitation.tenantId;
        if (!(await inviterMayStillInvite(db, invitation))) {
          // Committed with the refusal: the invitation is dead for whoever holds it.
          await invitationsSystemRepository.revoke(db, tenantId, invitation.id);
          return { revoked: true } as const;
        }
        const tenant = await invitationsSystemRepository.tenant(db, tenantId);
        if (!tenant) throw notFound("The tenant does not exist.");
        if (tenant.status !== "active") throw forbidden("This tenant is suspended.");
        if (await invitationsSystemRepository.isMember(db, tenantId, principal.userId)) {
          throw conflict("You are already a member of this tenant.");
        }
        await invitationsSystemRepository.markAccepted(
          db,
          tenantId,
          invitation.id,
          principal.userId,
        );
        await invitationsSystemRepository.addMember(db, tenantId, principal.userId);
        // Roles deleted since the invitation was made are skipped.
        const roles: RoleRef[] = (
          await tenantRoles.findTenantRoles(db, tenantId, invitation.roleIds)
        ).map(({ id, name }) => ({ id, name }));
        await tenantRoles.grantRoles(
          db,
          tenantId,
          principal.userId,
          roles.map((role) => role.id),
        );
        return {
          revoked: false,
          invitationId: invitation.id,
          tenant: { id: tenant.id, name: tenant.name, slug: tenant.slug },
          roles,
        } as const;
      });
      if (outcome.revoked) {
        throw forbidden(
          "The member who sent this invitation may no longer invite you with these roles, so it has been revoked; ask the tenant for a new one.",
        );
      }
      await sessions.revoke({ userId: principal.userId, tenantId: outcome.tenant.id });
      await audit.record({
        tenantId: outcome.tenant.id,
        actorId: principal.userId,
        action: "invitation.accepted",
        resourceType: "invitation",
        resourceId: outcome.invitationId,
      });
      return { tenant: outcome.tenant, roles: outcome.roles };
    },
  };
}

export type InvitationsService = ReturnType<typeof createInvitationsService>;
