import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The files of the kit that may leave the tenant scope: the only list of them. Everything else
 * reaches tenant data through `forTenant(scope)`, whose queries filter on the tenant twice
 * (docs/tenancy.md). A new use of `bypassTenantIsolation` in `src/`, `scripts/` or `bench/`
 * outside these files fails this test: add the file here only with the reason it cannot work
 * in a tenant scope. Tests are not scanned: they arrange and inspect rows of several tenants.
 */
const SYSTEM_ACCESS: Readonly<Record<string, string>> = {
  // Where it is defined: opens the system transaction on the system pool.
  "src/core/database/database.ts": "the definition",
  // app_tenant may only read audit_logs, so events (sign-in, acceptance) are written as app_system.
  "src/core/audit/audit.ts": "audit.record writes a tenant's event",
  // The outbox is not a tenant table; the relay reads every tenant's rows.
  "src/core/jobs/relay.ts": "the outbox relay",
  // The daily cleanup deletes expired rows of every tenant.
  "src/core/jobs/maintenance.ts": "the daily cleanup",
  // Registration, sign-in, refresh, sign-out, switch-tenant, password and email flows: before a
  // tenant is chosen, and on sessions and tokens, which app_tenant has no grant on.
  "src/modules/auth/sessions.service.ts": "sign-in, refresh, switch-tenant and sign-out",
  "src/modules/auth/passwords.service.ts": "password change and reset",
  "src/modules/auth/email-verification.service.ts": "email verification",
  "src/modules/auth/accounts.service.ts": "registration, the current user, deactivation",
  "src/modules/auth/account-audit.ts": "the tenants an account event is recorded in",
  "src/modules/auth/failed-sign-ins.ts": "the account of a refused sign-in",
  "src/modules/auth/sign-in.ts": "opening a session at sign-in",
  // The OAuth sign-in and account links: as sign-in, before a tenant is chosen.
  "src/modules/oauth/oauth-sign-in.ts": "OAuth sign-in",
  "src/modules/oauth/account-links.ts": "OAuth account links",
  // A new tenant has no tenant scope yet.
  "src/modules/tenants/tenants.service.ts": "tenant creation",
  // GET and PATCH /users/me for a user with no active tenant.
  "src/modules/users/users.service.ts": "the current user without a tenant",
  // The invitation is found by its token in any tenant, before the invitee is a member.
  "src/modules/invitations/invitations.service.ts": "invitation acceptance",
  // Platform administration lists and suspends tenants, and reads users across tenants.
  "src/modules/admin/admin.service.ts": "platform admin: tenants",
  "src/modules/admin/platform-admins.ts": "platform admin: the admins",
  // The demo seed creates users, tenants and memberships.
  "scripts/seed.ts": "the demo seed",
};

const root = fileURLToPath(new URL("../../", import.meta.url));
const SCANNED = ["src", "scripts", "bench"];
const NAME = "bypassTenantIsolation";

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sourceFiles(path);
    return /\.(?:c|m)?tsx?$/.test(entry.name) ? [path] : [];
  });
}

/**
 * How many times `text` names bypassTenantIsolation in code: a call, a reference, a
 * destructuring, or `database["bypassTenantIsolation"]`. Comments and prose in other strings
 * do not count.
 */
function usesIn(fileName: string, text: string): number {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  let uses = 0;
  const visit = (node: ts.Node) => {
    if ((ts.isIdentifier(node) || ts.isStringLiteralLike(node)) && node.text === NAME) uses++;
    ts.forEachChild(node, visit);
  };
  visit(file);
  return uses;
}

/** The files among `sources` (path relative to the root, text) that use it without being listed. */
function unlisted(sources: Iterable<[string, string]>): string[] {
  return [...sources]
    .filter(([path, text]) => !(path in SYSTEM_ACCESS) && usesIn(path, text) > 0)
    .map(([path]) => path);
}

const kitSources = (): Map<string, string> =>
  new Map(
    SCANNED.flatMap((dir) => sourceFiles(join(root, dir))).map(
      (path) => [relative(root, path).split("\\").join("/"), readFileSync(path, "utf8")] as const,
    ),
  );

describe("system access (bypassTenantIsolation) is allowed in the listed files only", () => {
  it("finds it in no other file of src/, scripts/ or bench/", () => {
    expect(unlisted(kitSources())).toEqual([]);
  });

  it("lists no file that does not use it", () => {
    const sources = kitSources();
    const stale = Object.keys(SYSTEM_ACCESS).filter(
      (path) => usesIn(path, sources.get(path) ?? "") === 0,
    );
    expect(stale).toEqual([]);
  });

  it("catches a new call site, however it is written, and not a mention in a comment", () => {
    const newCallSites: [string, string][] = [
      [
        "src/modules/projects/projects.service.ts",
        'await database.bypassTenantIsolation("projects", (db) => db.select().from(projects));',
      ],
      ["src/modules/projects/projects.routes.ts", "const { bypassTenantIsolation: b } = database;"],
      ["src/core/cache/cache.ts", 'const open = database["bypassTenantIsolation"];'],
    ];
    const mentionOnly: [string, string] = [
      "src/modules/projects/projects.repository.ts",
      '// never bypassTenantIsolation here\nconst note = "use bypassTenantIsolation sparingly";',
    ];
    expect(unlisted([...kitSources(), ...newCallSites, mentionOnly])).toEqual(
      newCallSites.map(([path]) => path),
    );
  });
});
