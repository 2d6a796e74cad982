import { createKitClient, type KitClient, type KitClientOptions } from "../src/index.js";

/**
 * One client for the whole front end, made once at start-up. `baseUrl` is the API's origin; the
 * page's own origin must be one of the API's CORS_ORIGINS, or the browser withholds the answers
 * and the server refuses the refresh cookie.
 */
export function createApi(baseUrl: string, options: Partial<KitClientOptions> = {}): KitClient {
  const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
  return createKitClient({
    baseUrl,
    // Tabs refresh in turn, so two tabs never present the same refresh token.
    ...(locks ? { refreshLock: async (run) => locks.request("kit-refresh", run) } : {}),
    // A deprecated operation says so on every answer: report it (to your error tracker) so the
    // front end moves before its sunset date.
    onDeprecated: (notice) =>
      console.error(`${notice.method} ${notice.url} is deprecated`, notice.sunset ?? ""),
    ...options,
  });
}
