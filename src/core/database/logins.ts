import { sql } from "drizzle-orm";
import type { Db } from "./database.js";
import { sqlStateOf } from "./errors.js";

/**
 * What production demands of the two logins (docs/tenancy.md#roles). The tenant pool's login
 * is where SQL injected into a tenant transaction would run: whatever that login may do, such
 * SQL may do too, since `RESET ROLE` takes it back from app_tenant to the login. So it must be
 * able to assume app_tenant and nothing more: no superuser, no BYPASSRLS, no app_system, and no
 * ownership of the database, its schemas or its tables (an owner may drop a policy).
 */

interface LoginFacts {
  login: string;
  superuser: boolean;
  bypass_rls: boolean;
  tenant: boolean;
  system: boolean;
  owner: boolean;
  can_enter: boolean;
}

const LOGIN_FACTS = sql`
  select session_user as login,
         r.rolsuper as superuser,
         r.rolbypassrls as bypass_rls,
         pg_has_role(session_user, 'app_tenant', 'MEMBER') as tenant,
         pg_has_role(session_user, 'app_system', 'MEMBER') as system,
         exists (select 1 from pg_database d
                  where d.datname = current_database() and pg_has_role(session_user, d.datdba, 'MEMBER'))
           or exists (select 1 from pg_namespace n
                       where n.nspname in ('public', 'app') and pg_has_role(session_user, n.nspowner, 'MEMBER'))
           or exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                       where n.nspname in ('public', 'app') and pg_has_role(session_user, c.relowner, 'MEMBER'))
           as owner,
         exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                  where n.nspname = 'app' and p.proname = 'enter_tenant' and p.pronargs = 3
                    and has_function_privilege(session_user, p.oid, 'EXECUTE')) as can_enter
    from pg_roles r
   where r.rolname = session_user`;

async function factsOf(db: Db): Promise<LoginFacts> {
  const result = (await db.execute(LOGIN_FACTS)) as unknown as { rows: LoginFacts[] };
  const facts = result.rows[0];
  if (!facts) throw new Error("The database did not describe its login role");
  return facts;
}

const SEE = "see docs/tenancy.md#two-pools-two-logins";

/** Every way the two logins fall short of production's rules; empty when they pass. */
export async function loginProblems(tenant: Db, system: Db): Promise<string[]> {
  const [tenantLogin, systemLogin] = await Promise.all([factsOf(tenant), factsOf(system)]);
  const problems: string[] = [];
  const name = `DATABASE_URL's login "${tenantLogin.login}"`;
  if (tenantLogin.superuser) {
    problems.push(`${name} is a superuser: row-level security does not bind it (${SEE})`);
  } else {
    if (tenantLogin.bypass_rls) problems.push(`${name} has BYPASSRLS (${SEE})`);
    if (tenantLogin.system) {
      problems.push(
        `${name} can assume app_system, so SQL injected into a tenant transaction could leave its tenant: grant it app_tenant_login only, and give DATABASE_SYSTEM_URL a login of its own (${SEE})`,
      );
    }
    if (tenantLogin.owner) {
      problems.push(
        `${name} owns the database or its schemas or tables (or is a member of their owner), and an owner may turn row-level security off (${SEE})`,
      );
    }
    if (!tenantLogin.tenant) problems.push(`${name} cannot assume app_tenant (${SEE})`);
    if (!tenantLogin.can_enter) {
      problems.push(
        `${name} may not execute app.enter_tenant (or the migrations have not run): grant it app_tenant_login (${SEE})`,
      );
    }
  }
  if (!systemLogin.system) {
    problems.push(
      `DATABASE_SYSTEM_URL's login "${systemLogin.login}" cannot assume app_system: grant it app_system_login (${SEE})`,
    );
  }
  return problems;
}

/**
 * Whether an error means the database could not be reached (as opposed to a question it
 * answered): no SQLSTATE (a refused or dropped connection), class 08, or the server starting
 * up, shutting down or full.
 */
export function isUnreachable(error: unknown): boolean {
  const code = sqlStateOf(error);
  return (
    code === undefined ||
    code.startsWith("08") ||
    code.startsWith("57P") ||
    code === "53300" ||
    code === "53000"
  );
}
