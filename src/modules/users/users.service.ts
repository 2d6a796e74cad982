import type { Database, SystemTx, TenantDatabase, UserRow } from "../../core/database/index.js";
import { unauthorized } from "../../core/errors/index.js";
import {
  currentUserRepository,
  membershipsSystemRepository,
  type UserTenant,
  usersSystemRepository,
} from "./users.repository.js";
import type { UserResponse } from "./users.schemas.js";

export type { UserTenant };

export function toUserResponse(row: UserRow): UserResponse {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    emailVerified: row.emailVerifiedAt !== null,
    createdAt: row.createdAt.toISOString(),
  };
}

/**
 * Whose account GET and PATCH /users/me act on: the tenant scope's user, or, for a signed-in
 * user with no active tenant (no tenant to enter), the token's verified user id.
 */
export type OwnAccount = { readonly tenantDb: TenantDatabase } | { readonly userId: string };

/**
 * Users: the signed-in user's own account, and for the sign-in flows of the auth and OAuth
 * modules, users and their memberships across tenants. Those take the caller's system
 * transaction (`bypassTenantIsolation`): the flows run before a tenant is chosen, and each does
 * its reads and writes in one transaction of its own.
 */
export function createUsersService({ database }: { database: Database }) {
  const withoutTenant = <T>(work: (db: SystemTx) => Promise<T>) =>
    database.bypassTenantIsolation("current user without a tenant", work);
  const ownRow = (account: OwnAccount) =>
    "tenantDb" in account
      ? currentUserRepository.find(account.tenantDb)
      : withoutTenant((db) => usersSystemRepository.findById(db, account.userId));
  const renameOwn = (account: OwnAccount, name: string) =>
    "tenantDb" in account
      ? currentUserRepository.rename(account.tenantDb, name)
      : withoutTenant((db) => usersSystemRepository.rename(db, account.userId, name));
  const orGone = (row: UserRow | undefined) => {
    // The session guard let the token through a moment ago; the user was deleted since.
    if (!row) throw unauthorized("The account no longer exists.");
    return toUserResponse(row);
  };

  return {
    async me(account: OwnAccount): Promise<UserResponse> {
      return orGone(await ownRow(account));
    },
    async update(account: OwnAccount, input: { name?: string | undefined }) {
      return orGone(
        input.name === undefined ? await ownRow(account) : await renameOwn(account, input.name),
      );
    },

    /** By email, compared case-insensitively (as the unique index does). */
    findByEmail: (db: SystemTx, email: string) => usersSystemRepository.findByEmail(db, email),
    findById: (db: SystemTx, id: string) => usersSystemRepository.findById(db, id),
    /** The user's row, locked until `db`'s transaction ends (changes to the ways of signing in). */
    lockById: (db: SystemTx, id: string) => usersSystemRepository.lockById(db, id),
    create: (
      db: SystemTx,
      input: {
        email: string;
        name: string;
        passwordHash: string | null;
        emailVerifiedAt: Date | null;
      },
    ) => usersSystemRepository.insert(db, input),
    setPasswordHash: (db: SystemTx, id: string, passwordHash: string) =>
      usersSystemRepository.setPasswordHash(db, id, passwordHash),
    /** Marks `email` verified, if it is still the user's address; false otherwise. */
    markEmailVerified: (db: SystemTx, id: string, email: string) =>
      usersSystemRepository.markEmailVerified(db, id, email),
    /** The tenant a sign-in without a chosen tenant goes to next time. */
    setLastTenant: (db: SystemTx, id: string, tenantId: string) =>
      usersSystemRepository.setLastTenant(db, id, tenantId),
    /** False when there is no such user. */
    deactivate: (db: SystemTx, id: string) => usersSystemRepository.setActive(db, id, false),

    /** The active tenants in which the user is an active member, oldest membership first. */
    tenantsOf: (db: SystemTx, userId: string): Promise<UserTenant[]> =>
      membershipsSystemRepository.tenantsOf(db, userId),
    /** The tenant, if it is active and the user an active member of it. */
    tenantOf: (db: SystemTx, userId: string, tenantId: string) =>
      membershipsSystemRepository.tenantOf(db, userId, tenantId),
    /** False when the user was not a member. */
    removeMembership: (db: SystemTx, userId: string, tenantId: string) =>
      membershipsSystemRepository.remove(db, userId, tenantId),
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
