/**
 * A front end's first day with the API, through the client and the guide's examples alone:
 * sign up, verify, sign in, reload the page, refresh, create custom roles and page the tenant's
 * roles, survive an expired access token, invite a member who accepts and switches tenant,
 * handle problems, sign out. It uses only routes every project of the kit serves.
 * The kit's test (test/integration/typescript-client.test.ts) compiles this file with the
 * client against the document of a running server, with `tsc --strict`, then runs it there.
 */
import { createApi } from "../examples/client.js";
import { createRoleFromForm, describeProblem, describeRole } from "../examples/errors.js";
import { allRoles, rolesPage } from "../examples/pagination.js";
import { signIn, signOut, signUp, startSession, verifyEmail } from "../examples/session.js";
import { createApiWithSignInRedirect, refreshNow } from "../examples/silent-refresh.js";
import { acceptInvitation, invite, switchTenant, tenantPicker } from "../examples/tenants.js";
import { type KitClient, ProblemError, type Session, unwrap } from "../src/index.js";

/** What the test gives the program: a browser's cookie jar and the mail it would read. */
export interface Browser {
  /** fetch with a cookie jar of its own, as one browser profile. */
  fetch(request: Request): Promise<Response>;
  /** From now on, requests carrying this access token are sent as if it had expired. */
  expire(accessToken: string): void;
  /** How many refresh requests it has sent. */
  refreshes(): number;
}

export interface World {
  baseUrl: string;
  /** A new browser profile. */
  browser(): Browser;
  /** The token of the latest link mailed to `email` for `page`. */
  mailedToken(email: string, page: "verify-email" | "invitations/accept"): Promise<string>;
  /** A unique email address. */
  email(who: string): string;
}

const PASSWORD = "correct horse battery staple";

/**
 * The owner's custom roles, made in this order after the tenant's four system roles. The member
 * is invited as a Curator: they read the roles and change them, never delete one.
 */
const CUSTOM_ROLES = [
  { name: "Auditor", permissions: ["audit:read", "members:read"] },
  { name: "Billing", permissions: ["members:read"] },
  { name: "Curator", permissions: ["roles:read", "roles:update"] },
  { name: "Designer", permissions: ["members:read"] },
  { name: "Editor", permissions: ["members:read", "members:invite"] },
];

const names = (roles: { name: string }[]) => roles.map((role) => role.name);

/** Every step's outcome, for the test to check. */
export async function walkthrough(world: World) {
  const ownerBrowser = world.browser();
  const sessions: (Session | null)[] = [];
  const owner = createApi(world.baseUrl, {
    fetch: ownerBrowser.fetch,
    onSession: (session) => sessions.push(session),
  });

  // A first visit: no cookie, no session.
  const firstVisit = await startSession(owner);

  // Sign up, verify the address from the mail, sign out, sign in.
  const ownerEmail = world.email("owner");
  const registered = await signUp(owner, {
    email: ownerEmail,
    password: PASSWORD,
    name: "Olga Owner",
    company: "Olga's Workshop",
  });
  await verifyEmail(owner, await world.mailedToken(ownerEmail, "verify-email"));
  await signOut(owner);
  const wrongPassword = await signIn(owner, ownerEmail, "not the password at all");
  const signedIn = await signIn(owner, ownerEmail, PASSWORD);

  // A page reload: a new client in the same browser gets a session from the refresh cookie.
  const reloaded = createApi(world.baseUrl, { fetch: ownerBrowser.fetch });
  const restored = await startSession(reloaded);
  const refreshedToken = await refreshNow(reloaded);

  // Custom roles, and pages of the tenant's roles: one page of 20, then pages of 2.
  for (const role of CUSTOM_ROLES) {
    await unwrap(reloaded.api.POST("/api/v1/roles", { body: role }));
  }
  const firstPage = await rolesPage(reloaded);
  const everyRole = await allRoles(reloaded, 2);

  // The access token expires: three requests at once fail with 401, one refresh, three answers.
  const redirects: string[] = [];
  const tab = createApiWithSignInRedirect(
    world.baseUrl,
    () => redirects.push("/sign-in"),
    ownerBrowser.fetch,
  );
  const tabSession = await tab.refresh();
  const refreshesBefore = ownerBrowser.refreshes();
  ownerBrowser.expire(tabSession.accessToken);
  const concurrent = await Promise.all([
    rolesPage(tab),
    tab.me(),
    unwrap(tab.api.GET("/api/v1/tenants/current")),
  ]);
  const silentRefreshes = ownerBrowser.refreshes() - refreshesBefore;
  const tokenAfterSilentRefresh = tab.session?.accessToken;
  const redirectsAfterSilentRefresh = [...redirects];

  // A member: invited, signs up in another browser, verifies, accepts and switches tenant.
  const memberEmail = world.email("member");
  const invitation = await invite(tab, memberEmail, "Curator");
  const memberBrowser = world.browser();
  const member = createApi(world.baseUrl, { fetch: memberBrowser.fetch });
  const memberOwnTenant = (
    await signUp(member, {
      email: memberEmail,
      password: PASSWORD,
      name: "Milo Member",
      company: "Milo's Studio",
    })
  ).tenant;
  await verifyEmail(member, await world.mailedToken(memberEmail, "verify-email"));
  const mailedInvitation = await world.mailedToken(memberEmail, "invitations/accept");
  const joined = await acceptInvitation(member, mailedInvitation);
  const picker = await tenantPicker(member);
  const rolesSeenByMember = names(await allRoles(member));
  const switchedBack = await switchTenant(member, memberOwnTenant?.id ?? "");
  const rolesInOwnTenant = names(await allRoles(member));

  // Problems: a field error, another tenant's role, a permission the member lacks.
  const invalid = await createRoleFromForm(tab, { name: "   ", permissions: [] });
  const created = await createRoleFromForm(tab, {
    name: "Support",
    description: "Answers customers",
    permissions: ["roles:read"],
  });
  const supportId = "role" in created ? created.role.id : "";
  const missing = await describeRole(member, supportId, "Seen from another tenant");
  await switchTenant(member, joined?.id ?? "");
  const foundByMember = await describeRole(member, supportId, "Answers customers by mail");
  let forbidden: { status: number; code: string; message: string } | undefined;
  const removal = await member.api.DELETE("/api/v1/roles/{id}", {
    params: { path: { id: supportId } },
  });
  if (removal.error) {
    const problem = new ProblemError(removal.error);
    forbidden = { status: problem.status, code: problem.code, message: describeProblem(problem) };
  }

  // Signing out ends the session everywhere in this browser: the cookie is gone.
  const oldToken = tab.session?.accessToken ?? "";
  await signOut(tab);
  const afterSignOut = await startSession(createApi(world.baseUrl, { fetch: ownerBrowser.fetch }));
  const oldTokenAnswer = await fetch(`${world.baseUrl}/api/v1/auth/me`, {
    headers: { authorization: `Bearer ${oldToken}` },
  });

  return {
    firstVisit,
    registered: { user: registered.user.email, tenant: registered.tenant?.name },
    wrongPassword,
    signedIn: signedIn?.user.emailVerified,
    restored: restored?.user.email,
    refreshed: refreshedToken !== restored?.accessToken,
    firstPage: { names: names(firstPage.items), next: firstPage.nextCursor },
    everyRole: names(everyRole),
    concurrent: {
      roles: concurrent[0].items.length,
      me: concurrent[1].user.email,
      tenant: concurrent[2].name,
    },
    silentRefreshes,
    tokenChanged: tokenAfterSilentRefresh !== tabSession.accessToken,
    redirectsAfterSilentRefresh,
    redirectsAfterSignOut: redirects,
    invitation: { email: invitation.email, roles: invitation.roles.map((role) => role.name) },
    joined: joined?.name,
    picker: { current: picker.current, tenants: picker.tenants.map((t) => t.name).sort() },
    rolesSeenByMember,
    switchedBack: switchedBack?.name,
    rolesInOwnTenant,
    invalid,
    created: "role" in created ? created.role.name : undefined,
    missing,
    foundByMember: foundByMember && {
      name: foundByMember.name,
      description: foundByMember.description,
    },
    forbidden,
    afterSignOut,
    oldTokenStatus: oldTokenAnswer.status,
    sessionsSeen: sessions.map((session) => session?.user.email ?? null),
  };
}

export type Report = Awaited<ReturnType<typeof walkthrough>>;
export type { KitClient };
