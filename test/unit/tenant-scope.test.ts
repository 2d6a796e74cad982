import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { auditLogs } from "../../src/core/audit/index.js";
import {
  memberships,
  param,
  prepareStatement,
  tenants,
  users,
} from "../../src/core/database/index.js";
import { type Db, type SystemTx, TenantTx } from "../../src/core/database/transactions.js";
import { jobOutbox } from "../../src/core/jobs/outbox.table.js";
import { auditRepository } from "../../src/modules/audit/audit.repository.js";
import {
  invitationsRepository,
  invitationsSystemRepository,
} from "../../src/modules/invitations/invitations.repository.js";
import { invitations } from "../../src/modules/invitations/invitations.table.js";
import { rbacRepository } from "../../src/modules/rbac/rbac.repository.js";
import { rolesSystemRepository } from "../../src/modules/rbac/roles.repository.js";
import { memberRoles, roles } from "../../src/modules/rbac/roles.table.js";

/*
 * The tenant scope is a type. A TenantTx builds only queries that filter on its tenant, a
 * SystemTx is not a TenantTx, and the repositories of tenant tables accept nothing else. The
 * `@ts-expect-error` lines are checked by `tsc --noEmit` (npm run lint): each marks a query or
 * a call that must not compile, and tsc fails if one ever does. The SQL is built with a
 * Drizzle handle that has no connection (as prepareStatement builds its statements); nothing
 * here runs a query.
 */

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";
const USER = "00000000-0000-4000-8000-0000000000e1";
const ROLE = "00000000-0000-4000-8000-0000000000f1";

/** The scope (first parameter) every function of a repository takes, as one union. */
type ScopeOf<Repository> = {
  [Name in keyof Repository]: Repository[Name] extends (
    scope: infer Scope,
    ...rest: never[]
  ) => unknown
    ? Scope
    : never;
}[keyof Repository];

const builder: Db = drizzle.mock();
const tx = new TenantTx(builder, { tenantId: A, userId: USER });
const system = builder as SystemTx;

describe("TenantTx: every statement filters on its tenant", () => {
  it("puts the tenant predicate in the where clause of a select, before the caller's conditions", () => {
    const query = tx.select({ id: roles.id }).from(roles, eq(roles.id, ROLE)).toSQL();
    expect(query.sql).toBe(
      'select "id" from "roles" where ("roles"."tenant_id" = $1 and "roles"."id" = $2)',
    );
    expect(query.params).toEqual([A, ROLE]);
  });

  it("keeps the predicate on the table selected from when others are joined", () => {
    const query = tx
      .select({ email: users.email })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .toSQL();
    expect(query.sql).toBe(
      'select "users"."email" from "memberships" inner join "users" on "users"."id" = "memberships"."user_id" where "memberships"."tenant_id" = $1',
    );
    expect(query.params).toEqual([A]);
  });

  it("filters updates and deletes on the tenant: a member is removed from this tenant only", () => {
    const update = tx.update(roles).set({ name: "Editors" }).where(eq(roles.id, ROLE)).toSQL();
    expect(update.sql).toBe(
      'update "roles" set "name" = $1 where ("roles"."tenant_id" = $2 and "roles"."id" = $3)',
    );
    expect(update.params).toEqual(["Editors", A, ROLE]);

    const remove = tx.delete(memberships).where(eq(memberships.userId, USER)).toSQL();
    expect(remove.sql).toBe(
      'delete from "memberships" where ("memberships"."tenant_id" = $1 and "memberships"."user_id" = $2)',
    );
    expect(remove.params).toEqual([A, USER]);
  });

  it("sets tenant_id on every inserted row, whatever a cast slips in", () => {
    const rows = [
      { userId: USER, roleId: ROLE },
      { userId: USER, roleId: ROLE, tenantId: B } as { userId: string; roleId: string },
    ];
    const query = tx.insert(memberRoles).values(rows).toSQL();
    expect(query.sql).toBe(
      'insert into "member_roles" ("tenant_id", "user_id", "role_id") values ($1, $2, $3), ($4, $5, $6)',
    );
    expect(query.params).toEqual([A, USER, ROLE, A, USER, ROLE]);
  });

  it("reads the tenant's own row of tenants and the user's own row of users", () => {
    expect(tx.select({ name: tenants.name }).from(tenants).toSQL()).toEqual({
      sql: 'select "name" from "tenants" where "tenants"."id" = $1',
      params: [A],
    });
    expect(tx.select({ name: users.name }).from(users).toSQL()).toEqual({
      sql: 'select "name" from "users" where "users"."id" = $1',
      params: [USER],
    });
    const withoutUser = new TenantTx(builder, { tenantId: A });
    expect(() => withoutUser.select().from(users)).toThrow("acts for no user");
  });

  it("refuses, at run time too, a table that is not a tenant's", () => {
    // @ts-expect-error job_outbox has no tenant_id: a tenant transaction cannot select from it.
    expect(() => tx.select().from(jobOutbox)).toThrow("tenant tables only");
    const cast = jobOutbox as unknown as typeof auditLogs;
    expect(() => tx.delete(cast).where()).toThrow("tenant tables only");
  });
});

describe("prepareStatement: the prepared path binds its scope too", () => {
  // Each is refused when its module loads, before any statement runs.
  it("refuses a statement on a tenant table that never binds :tenantId", () => {
    expect(() =>
      prepareStatement("test_roles_by_id", roles, (db) =>
        db
          .select()
          .from(roles)
          .where(eq(roles.id, param("id"))),
      ),
    ).toThrow(
      'statement test_roles_by_id never binds :tenantId: filter roles on param("tenantId")',
    );
  });

  it("refuses a statement on users that never binds :userId, and one on a table outside the scope", () => {
    expect(() =>
      prepareStatement("test_user_by_email", users, (db) =>
        db
          .select()
          .from(users)
          .where(eq(users.email, param("email"))),
      ),
    ).toThrow("never binds :userId");
    expect(() =>
      prepareStatement("test_outbox", jobOutbox, (db) => db.select().from(jobOutbox)),
    ).toThrow("job_outbox is not a tenant table");
  });
});

describe("the types keep tenant and system transactions apart", () => {
  it("lets the repositories of roles, members, invitations and the audit log take a TenantTx only", () => {
    expectTypeOf<ScopeOf<typeof rbacRepository>>().toEqualTypeOf<TenantTx>();
    expectTypeOf<ScopeOf<typeof invitationsRepository>>().toEqualTypeOf<TenantTx>();
    expectTypeOf<ScopeOf<typeof auditRepository>>().toEqualTypeOf<TenantTx>();
    expectTypeOf<ScopeOf<typeof rolesSystemRepository>>().toEqualTypeOf<SystemTx>();
    expectTypeOf<ScopeOf<typeof invitationsSystemRepository>>().toEqualTypeOf<SystemTx>();
    expectTypeOf<SystemTx>().not.toExtend<TenantTx>();
    expectTypeOf<Db>().not.toExtend<SystemTx>();

    // Never called (they would run queries): the compiler is what refuses them.
    const refused = () => [
      // @ts-expect-error a system transaction (bypassTenantIsolation) is not a tenant scope.
      rbacRepository.findRole(system, ROLE),
      // @ts-expect-error nor is a raw Drizzle handle.
      rbacRepository.listMembers(builder, 10, undefined),
      // @ts-expect-error the tenant comes from the transaction, never as an argument.
      invitationsRepository.tenantName(tx, B),
      // @ts-expect-error a system transaction is not a tenant scope.
      invitationsRepository.listPending(system, 10, undefined),
      // @ts-expect-error a system transaction is not a tenant scope.
      auditRepository.list(system, { limit: 10 }),
      // @ts-expect-error a system repository takes a system transaction, not a tenant one.
      invitationsSystemRepository.user(tx, USER),
      // @ts-expect-error a system repository takes a system transaction, not a tenant one.
      rolesSystemRepository.ofMember(tx, USER, [A]),
    ];
    expect(typeof refused).toBe("function");
  });

  it("has no query of a tenant table without the tenant predicate", () => {
    // @ts-expect-error no unscoped builder: a TenantTx is not a Drizzle handle.
    const unscoped: Db = tx;
    expect(unscoped).toBe(tx);

    const scoped = tx.select().from(roles);
    // @ts-expect-error the predicate is already the where clause; it cannot be replaced.
    expect(typeof scoped.where).toBe("function");

    const update = tx.update(invitations);
    // @ts-expect-error no row moves to another tenant.
    update.set({ tenantId: B });
    // @ts-expect-error an update names its conditions after its changes, and keeps the predicate.
    expect(update.where).toBeUndefined();

    // @ts-expect-error an inserted row takes the transaction's tenant, never one of its own.
    tx.insert(roles).values({ tenantId: B, name: "Editors" });
    // @ts-expect-error users is not a tenant table: a tenant transaction inserts no user.
    expect(() => tx.insert(users)).toThrow();
  });
});
