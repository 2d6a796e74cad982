import type { SessionGuard } from "../../core/auth/index.js";
import { type Database, isUniqueViolation } from "../../core/database/index.js";
import { conflict, unauthorized } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import { expandGrants } from "../../core/permissions/index.js";
import type { RolesService } from "../rbac/index.js";
import { toUserResponse, type UsersService, type UserTenant } from "../users/index.js";
import type { MeResponse } from "./auth.schemas.js";
import type { OneTimeTokenMailer } from "./mailed-tokens.js";
import { hashPassword, requireStrongPassword } from "./passwords.js";
import { SESSION_ENDED } from "./refresh-rotation.js";
import { sessionsRepository } from "./sessions.repository.js";
import type { AccountCreator, Client, SessionOpener, SignedIn } from "./sign-in.js";

const EMAIL_TAKEN = "An account with this email already exists.";

/**
 * An account's life: registration, what the signed-in user sees of it, deactivation, and the
 * end of a membership. Deactivation and removal end access at once (the session guard).
 */
export function createAccountsService(options: {
  database: Database;
  sessions: SessionGuard;
  users: UsersService;
  roles: RolesService;
  opener: SessionOpener;
  createAccountWithin: AccountCreator;
  mailOneTimeToken: OneTimeTokenMailer;
}) {
  const { database, sessions, users, roles, opener, createAccountWithin, mailOneTimeToken } =
    options;

  return {
    /** A user, their own tenant and a session in it; the verification link is mailed. */
    async register(
      input: { email: string; password: string; name: string; tenantName: string },
      client: Client,
    ): Promise<SignedIn> {
      await requireStrongPassword("password", input.password, {
        email: input.email,
        name: input.name,
        organisation: input.tenantName,
      });
      const passwordHash = await hashPassword(input.password);
      try {
        const { user, tenant, refreshToken, sessionId } = await database.bypassTenantIsolation(
          "registration",
          async (db) => {
            if (await users.findByEmail(db, input.email)) throw conflict(EMAIL_TAKEN);
            const { user, tenant } = await createAccountWithin(db, {
              ...input,
              passwordHash,
              emailVerifiedAt: null,
            });
            const { session, refreshToken } = await opener.openSession(db, user, tenant, client);
            await mailOneTimeToken(db, user, "email-verification");
            return { user, tenant, refreshToken, sessionId: session.id };
          },
        );
        return { response: await opener.tokenResponse(user, tenant, sessionId), refreshToken };
      } catch (error) {
        // Two registrations racing for one email: the unique index decides. Any other
        // duplicate is not about the email and must not be reported as one.
        if (isUniqueViolation(error, "users_email_key")) throw conflict(EMAIL_TAKEN);
        throw error;
      }
    },

    /** The signed-in user, the token's tenant with its roles and permissions, every membership. */
    async me(principal: Principal): Promise<MeResponse> {
      return database.bypassTenantIsolation(
        "current user",
        async (db) => {
          const user = await users.findById(db, principal.userId);
          const tenants = await users.tenantsOf(db, principal.userId);
          // A token without a tenant is for a user who has none active (memberships: []).
          const tenant =
            principal.tenantId === null
              ? null
              : tenants.find((candidate) => candidate.id === principal.tenantId);
          if (!user || tenant === undefined) throw unauthorized(SESSION_ENDED);
          const access = await roles.rolesOfMember(
            db,
            principal.userId,
            tenants.map((each) => each.id),
          );
          const summary = (each: UserTenant) => ({ id: each.id, name: each.name, slug: each.slug });
          const roleNames = (tenantId: string) =>
            (access.get(tenantId)?.roles ?? []).map((role) => role.name);
          return {
            user: toUserResponse(user),
            tenant: tenant && summary(tenant),
            roles: tenant ? roleNames(tenant.id) : [],
            permissions: tenant ? expandGrants(access.get(tenant.id)?.grants ?? []) : [],
            memberships: tenants.map((membership) => ({
              tenant: summary(membership),
              roles: roleNames(membership.id),
            })),
          };
        },
        { logLevel: "debug" },
      );
    },

    /** Deactivates a user: every session ends and every token stops working at once. */
    async deactivateUser(userId: string): Promise<boolean> {
      const found = await database.bypassTenantIsolation("user deactivation", async (db) => {
        const changed = await users.deactivate(db, userId);
        if (changed) await sessionsRepository.revokeAllOf(db, userId, "deactivated");
        return changed;
      });
      await sessions.revoke({ userId });
      return found;
    },

    /** Removes a member from a tenant: their tokens for that tenant stop working at once. */
    async removeMembership(tenantId: string, userId: string): Promise<boolean> {
      const removed = await database.bypassTenantIsolation("membership removal", (db) =>
        users.removeMembership(db, userId, tenantId),
      );
      await sessions.revoke({ userId, tenantId });
      return removed;
    },
  };
}

export type AccountsService = ReturnType<typeof createAccountsService>;
