import { type KitClient, ProblemError, type Session } from "../src/index.js";

/**
 * The access token lives in memory only (15 minutes); the refresh token is an HttpOnly cookie
 * the browser keeps for 7 days and sends to /api/v1/auth by itself. So a page load starts by
 * asking for a session from the cookie: null means the user must sign in.
 */
export async function startSession(api: KitClient): Promise<Session | null> {
  return api.restore();
}

/** Sign-up creates the user and their first tenant, and signs in. */
export async function signUp(
  api: KitClient,
  form: { email: string; password: string; name: string; company: string },
): Promise<Session> {
  return api.register({
    email: form.email,
    password: form.password,
    name: form.name,
    tenantName: form.company,
  });
}

/** Null for a wrong email or password: the server answers both with the same 401. */
export async function signIn(
  api: KitClient,
  email: string,
  password: string,
): Promise<Session | null> {
  try {
    return await api.signIn({ email, password });
  } catch (error) {
    if (error instanceof ProblemError && error.status === 401) return null;
    throw error;
  }
}

/** The link in the verification email carries the token: `/verify-email?token=...`. */
export async function verifyEmail(api: KitClient, token: string): Promise<void> {
  const { error } = await api.api.POST("/api/v1/auth/email/verify", { body: { token } });
  if (error) throw new ProblemError(error);
}

/** Ends the session on the server (its access token stops working) and clears the cookie. */
export async function signOut(api: KitClient): Promise<void> {
  await api.signOut();
}
