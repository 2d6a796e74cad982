import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import type { OneTimeStore } from "../../src/core/cache/index.js";
import { AppError } from "../../src/core/errors/index.js";
import { createOAuthService } from "../../src/modules/oauth/oauth.service.js";
import { createOAuthAttempts } from "../../src/modules/oauth/oauth-attempts.js";
import type { OAuthProvider } from "../../src/modules/oauth/providers.js";

/** The OAuth service when its state store is down: a 503 to retry, never a 500. */

const unreachable: OneTimeStore = {
  kind: "redis",
  put: async () => {
    throw new Error("connect ECONNREFUSED 127.0.0.1:6379");
  },
  take: async () => {
    throw new Error("connect ECONNREFUSED 127.0.0.1:6379");
  },
};

const provider: OAuthProvider = {
  name: "google",
  usesNonce: true,
  authorizationUrl: async () => new URL("https://accounts.example/authorize"),
  identify: async () => {
    throw new Error("not reached");
  },
};

const notReached = async (): Promise<never> => {
  throw new Error("not reached");
};

// Nothing but the state store is reached: neither the sign-in nor the links.
const service = createOAuthService({
  attempts: createOAuthAttempts({
    config: loadConfig({ ENVIRONMENT: "test" }),
    oneTime: unreachable,
    providers: new Map([["google", provider]]),
  }),
  signInWith: notReached,
  links: { link: notReached, list: notReached, unlink: notReached },
});

const expectUnavailable = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AppError);
  expect(error).toMatchObject({
    code: "service-unavailable",
    options: { headers: { "retry-after": "5" } },
  });
};

describe("OAuth with its state store down", () => {
  it("answers 503 to authorize", async () => {
    await expectUnavailable(service.authorize("google", { redirectTo: undefined, binding: "b" }));
  });

  it("answers 503 to a callback", async () => {
    await expectUnavailable(
      service.callback(
        "google",
        { state: "s", code: "c" },
        {
          search: "?state=s&code=c",
          binding: "b",
          fromBrowser: false,
          client: { ip: "::1", userAgent: undefined },
        },
      ),
    );
  });
});
