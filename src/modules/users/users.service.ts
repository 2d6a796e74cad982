import type { TenantDatabase, UserRow } from "../../core/database/index.js";
import { unauthorized } from "../../core/errors/index.js";
import { currentUserRepository } from "./users.repository.js";
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

/** The signed-in user's own account, read and changed through the tenant scope. */
export function usersService(tenantDb: TenantDatabase) {
  const repository = currentUserRepository(tenantDb);
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
