/**
 * A front end's first day with the API, through the client and the guide's examples alone:
 * sign up, verify, sign in, reload the page, refresh, create and page items, survive an expired
 * access token, invite a member who accepts and switches tenant, handle problems, sign out.
 * The kit's test (test/integration/typescript-client.test.ts) compiles this file with the
 * client against the document of a running server, with `tsc --strict`, then runs it there.
 */
import { createApi } from "../examples/client.js";
import { createItemFromForm, describeProblem, findItem } from "../examples/errors.js";
import { allItems, itemsPage } from "../examples/pagination.js";
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

  // Items, and pages of them.
  for (const name of ["Anvil", "Bellows", "Chisel", "Drill", "Emery"]) {
    await unwrap(reloaded.api.POST("/api/v1/items", { body: { name } }));
  }
  const firstPage = await itemsPage(reloaded);
  const everyItem = await allItems(reloaded, 2);

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
    itemsPage(tab),
    tab.me(),
    unwrap(tab.api.GET("/api/v1/tenants/current")),
  ]);
  const silentRefreshes = ownerBrowser.refreshes() - refreshesBefore;
  const tokenAfterSilentRefresh = tab.session?.accessToken;
  const redirectsAfterSilentRefresh = [...redirects];

  // A member: invited, signs up in another browser, verifies, accepts and switches tenant.
  const memberEmail = world.email("member");
  const invitation = await invite(tab, memberEmail, "member");
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
  const itemsSeenByMember = (await allItems(member)).map((item) => item.name);
  const switchedBack = await switchTenant(member, memberOwnTenant?.id ?? "");
  const itemsInOwnTenant = await allItems(member);

  // Problems: a field error, another tenant's item, a permission the member lacks.
  const invalid = await createItemFromForm(tab, { name: "   " });
  const created = await createItemFromForm(tab, { name: "Forge", description: "Hot" });
  const forgeId = "item" in created ? created.item.id : "";
  const missing = await findItem(member, forgeId);
  await switchTenant(member, joined?.id ?? "");
  const foundByMember = await findItem(member, forgeId);
  let forbidden: { status: number; code: string; message: string } | undefined;
  const removal = await member.api.DELETE("/api/v1/items/{id}", {
    params: { path: { id: forgeId } },
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
    firstPage: { names: firstPage.items.map((item) => item.name), next: firstPage.nextCursor },
    everyItem: everyItem.map((item) => item.name),
    concurrent: {
      items: concurrent[0].items.length,
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
    itemsSeenByMember,
    switchedBack: switchedBack?.name,
    itemsInOwnTenant: itemsInOwnTenant.length,
    invalid,
    created: "item" in created ? created.item.name : undefined,
    missing,
    foundByMember: foundByMember?.name,
    forbidden,
    afterSignOut,
    oldTokenStatus: oldTokenAnswer.status,
    sessionsSeen: sessions.map((session) => session?.user.email ?? null),
  };
}

export type Report = Awaited<ReturnType<typeof walkthrough>>;
export type { KitClient };
