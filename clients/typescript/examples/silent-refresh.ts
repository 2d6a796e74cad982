import { createKitClient, type KitClient, type Session } from "../src/index.js";

/**
 * Nothing to write for the silent refresh: a request whose access token has expired answers
 * 401, the client refreshes once from the cookie (however many requests failed at the same
 * time), sends each of them again and resolves them with the new answers. When the refresh is
 * refused too (the session was ended, or the cookie has expired), `onSession` hears null and
 * the request resolves with its 401: that is the moment to send the user to the sign-in page.
 */
export function createApiWithSignInRedirect(
  baseUrl: string,
  goToSignIn: () => void,
  fetch?: (request: Request) => Promise<Response>,
): KitClient {
  return createKitClient({
    baseUrl,
    ...(fetch ? { fetch } : {}),
    onSession: (session: Session | null) => {
      if (session === null) goToSignIn();
    },
  });
}

/** A refresh can also be asked for: before a long form is sent, say. */
export async function refreshNow(api: KitClient): Promise<string> {
  const session = await api.refresh();
  return session.accessToken;
}
