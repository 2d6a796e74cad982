import type { Database, TenantDatabase, UserRow } from "../../core/database/index.js";
import { unauthorized } from "../../core/errors/index.js";
import { currentUserRepository, usersSystemRepository } from "./users.repository.js";
import type { UserResponse } from "./users.schemas.js";

export function toUserResponse(row: UserRow): UserResponse {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    emailVerified: row.emailVerifiedAt !== null,
    createdAt: row.createdAt.toISOString(),
  };
}

interface OwnRow {
  find(): Promise<UserRow | undefined>;
  rename(name: string): Promise<UserRow | undefined>;
}

/** The signed-in user's own account, read and changed through the tenant scope. */
export function usersService(tenantDb: TenantDatabase) {
  return ownAccount(currentUserRepository(tenantDb));
}

/**
 * The same for a signed-in user with no active tenant: with no tenant to enter, the row is
 * read and changed by the token's verified user id, around tenant isolation.
 */
export function usersServiceWithoutTenant(database: Database, userId: string) {
  return ownAccount({
    find: () =>
      database.bypassTenantIsolation("current user without a tenant", (db) =>
        usersSystemRepository(db).findById(userId),
      ),
    rename: (name) =>
      database.bypassTenantIsolation("current user without a tenant", (db) =>
        usersSystemRepository(db).rename(userId, name),
      ),
  });
}

function ownAccount(repository: OwnRow) {
  const orGone = (row: UserRow | undefined) => {
    // The session guard let the token through a moment ago; the user was deleted since.
    if (!row) throw unauthorized("The account no longer exists.");
    return toUserResponse(row);
  };
  return {
    async me(): Promise<UserResponse> {
      return orGone(await repository.find());
    },
    async update(input: { name?: string | undefined }): Promise<UserResponse> {
      return orGone(
        input.name === undefined ? await repository.find() : await repository.rename(input.name),
      );
    },
  };
}
