import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { TokenService } from "../../src/core/auth/index.js";
import {
  type Database,
  type MembershipRow,
  memberships,
  type SessionRow,
  sessions,
  type TenantRow,
  tenants,
  type UserRow,
  users,
} from "../../src/core/database/index.js";
import type { DefaultRoleName } from "../../src/core/permissions/index.js";
// >>> items example
import { type ItemRow, items } from "../../src/modules/items/items.table.js";
// <<< items example
import { createRolesService } from "../../src/modules/rbac/index.js";
import { createTenantsService } from "../../src/modules/tenants/index.js";
import { type NoteRow, notes } from "../fixtures/notes-module/notes.table.js";

/*
 * Test data factories: rows in the real database, arranged directly (no HTTP, no password
 * hashing) for tests about something else. Every value that must be unique (email, tenant
 * name and so slug) is random, so suites running in parallel on one database never collide;
 * pass overrides for what a test is about. Each returns the row as the database holds it.
 */

const REASON = "test arrangement";
/** Members are added the way registration and invitations add them. */
const roles = createRolesService();
const DAY_MS = 86_400_000;

/** A short random token for names and emails. */
export const uniqueSuffix = (): string => randomUUID().slice(0, 8);

export type UserOverrides = Partial<
  Pick<
    typeof users.$inferInsert,
    "id" | "email" | "name" | "passwordHash" | "emailVerifiedAt" | "isActive" | "isPlatformAdmin"
  >
>;

/** A user with a verified, unique email and no password (sign-in is not what it is for). */
export async function createUser(
  database: Database,
  overrides: UserOverrides = {},
): Promise<UserRow> {
  const [row] = await database.bypassTenantIsolation(REASON, (db) =>
    db
      .insert(users)
      .values({
        email: `user-${randomUUID()}@example.test`,
        name: "Test User",
        passwordHash: null,
        emailVerifiedAt: new Date(),
        ...overrides,
      })
      .returning(),
  );
  return row as UserRow;
}

export interface TenantOverrides {
  name?: string;
  plan?: TenantRow["plan"];
}

/**
 * A tenant with its default roles, made the way the kit makes one (the slug is derived from
 * the name, so a random name is a random slug). No members: see createMember.
 */
export function createTenant(
  database: Database,
  overrides: TenantOverrides = {},
): Promise<TenantRow> {
  return createTenantsService({ database }).create({
    name: `Tenant ${uniqueSuffix()}`,
    ...overrides,
  });
}

export interface Member {
  readonly user: UserRow;
  readonly tenant: TenantRow;
  readonly membership: MembershipRow;
  readonly role: DefaultRoleName;
}

/**
 * A user who is a member of a tenant with one of the default roles (owner unless told).
 * Creates the user and the tenant unless given (as a row, or by id).
 */
export async function createMember(
  database: Database,
  options: {
    tenant?: TenantRow | string;
    user?: UserRow | string;
    role?: DefaultRoleName;
    userOverrides?: UserOverrides;
  } = {},
): Promise<Member> {
  const role = options.role ?? "owner";
  const given = async <Row>(table: typeof tenants | typeof users, id: string) =>
    (
      await database.bypassTenantIsolation(REASON, (db) =>
        db.select().from(table).where(eq(table.id, id)),
      )
    )[0] as Row;
  const tenant =
    typeof options.tenant === "string"
      ? await given<TenantRow>(tenants, options.tenant)
      : (options.tenant ?? (await createTenant(database)));
  const user =
    typeof options.user === "string"
      ? await given<UserRow>(users, options.user)
      : (options.user ?? (await createUser(database, options.userOverrides)));
  if (!tenant || !user) throw new Error("createMember: no such tenant or user");
  const membership = await database.bypassTenantIsolation(REASON, async (db) => {
    await roles.addMember(db, tenant.id, user.id, role);
    const [row] = await db
      .select()
      .from(memberships)
      .where(and(eq(memberships.tenantId, tenant.id), eq(memberships.userId, user.id)));
    return row as MembershipRow;
  });
  return { user, tenant, membership, role };
}

/**
 * A live session of `userId`, in `tenantId` (or none: a user without a tenant), valid for a
 * day unless `expiresAt` says otherwise.
 */
export async function createSession(
  database: Database,
  userId: string,
  options: { tenantId?: string | null; expiresAt?: Date } = {},
): Promise<SessionRow> {
  const [row] = await database.bypassTenantIsolation(REASON, (db) =>
    db
      .insert(sessions)
      .values({
        userId,
        currentTenantId: options.tenantId ?? null,
        expiresAt: options.expiresAt ?? new Date(Date.now() + DAY_MS),
      })
      .returning(),
  );
  return row as SessionRow;
}

/** `{ authorization: "Bearer <access token>" }` for a session, in the session's tenant. */
export async function bearerFor(
  tokens: TokenService,
  session: Pick<SessionRow, "id" | "userId" | "currentTenantId">,
): Promise<{ authorization: string }> {
  const token = await tokens.signAccessToken({
    sub: session.userId,
    tid: session.currentTenantId,
    sid: session.id,
  });
  return { authorization: `Bearer ${token}` };
}

/**
 * A note (the fixture module of test/fixtures/notes-module/) of `tenantId`, written as that
 * tenant (row-level security applies), created by `createdBy` when given.
 */
export async function createNote(
  database: Database,
  tenantId: string,
  overrides: Partial<Pick<NoteRow, "id" | "name" | "description" | "createdBy">> = {},
): Promise<NoteRow> {
  const [row] = await database
    .forTenant({ tenantId, userId: overrides.createdBy ?? undefined })
    .transaction((tx) =>
      tx
        .insert(notes)
        .values({ name: `Note ${uniqueSuffix()}`, ...overrides })
        .returning(),
    );
  return row as NoteRow;
}

// >>> items example
/**
 * An item of `tenantId`, written as that tenant (row-level security applies), created by
 * `createdBy` when given.
 */
export async function createItem(
  database: Database,
  tenantId: string,
  overrides: Partial<Pick<ItemRow, "id" | "name" | "description" | "createdBy">> = {},
): Promise<ItemRow> {
  const [row] = await database
    .forTenant({ tenantId, userId: overrides.createdBy ?? undefined })
    .transaction((tx) =>
      tx
        .insert(items)
        .values({ name: `Item ${uniqueSuffix()}`, ...overrides })
        .returning(),
    );
  return row as ItemRow;
}
// <<< items example
