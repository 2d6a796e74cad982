import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { OAuth2Server } from "oauth2-mock-server";

/**
 * Local stand-ins for the OAuth providers, on 127.0.0.1, started and stopped by the tests:
 * a real OpenID Connect server (oauth2-mock-server: discovery, JWKS, signed ID tokens, PKCE
 * and nonce) for Google's and Microsoft's shape, and a small stub of GitHub's OAuth and REST
 * endpoints for GitHub's.
 */

export const OIDC_CLIENT = { id: "kit-oidc-client", secret: "kit-oidc-secret" } as const;
export const GITHUB_CLIENT = { id: "kit-github-client", secret: "kit-github-secret" } as const;

/** Claims the next ID token of the mock server carries (besides iss, iat, exp, aud, nonce). */
export type IdTokenClaims = Record<string, unknown>;

export interface OidcProvider {
  readonly server: OAuth2Server;
  readonly issuer: string;
  /** Claims for every following ID token; `undefined` removes a claim. */
  claims: IdTokenClaims;
  stop(): Promise<void>;
}

/** A real OIDC server on 127.0.0.1 (or on `host`, which must resolve to it). */
export async function startOidcProvider(host = "127.0.0.1"): Promise<OidcProvider> {
  const server = new OAuth2Server();
  await server.issuer.keys.generate("RS256");
  await server.start(0, "127.0.0.1");
  const port = (server.address() as AddressInfo).port;
  server.issuer.url = `http://${host}:${port}`;
  const provider: OidcProvider = {
    server,
    issuer: server.issuer.url,
    claims: {},
    stop: () => server.stop(),
  };
  server.service.on("beforeTokenSigning", (token: { payload: Record<string, unknown> }) => {
    // The ID token is the one addressed to the client; the access token is left alone.
    if (token.payload.aud !== OIDC_CLIENT.id) return;
    for (const [claim, value] of Object.entries(provider.claims)) {
      if (value === undefined) delete token.payload[claim];
      else token.payload[claim] = value;
    }
  });
  return provider;
}

export interface GitHubUser {
  id: number;
  login: string;
  name: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
}

export interface GitHubStub {
  /** GITHUB_URL */
  readonly url: string;
  /** GITHUB_API_URL */
  readonly apiUrl: string;
  /** Who signs in next. */
  user: GitHubUser;
  /** Milliseconds the token endpoint waits before answering. */
  tokenDelayMs: number;
  /** The status `GET /user` answers: 200 with the profile, 299 with a body that is not one, else an error. */
  userStatus: number;
  /** Codes issued and not yet exchanged. */
  readonly pendingCodes: number;
  stop(): Promise<void>;
}

interface IssuedCode {
  readonly challenge: string;
  readonly redirectUri: string;
  readonly user: GitHubUser;
}

const readBody = async (request: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
};

const sendJson = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
};

/**
 * GitHub's web flow as GitHub runs it: authorize redirects back with a code at once (the
 * user "approves"), the token endpoint checks the client secret, the redirect URI and the
 * PKCE verifier, and answers errors with status 200 and an `error` field, as GitHub does.
 */
export async function startGitHubStub(): Promise<GitHubStub> {
  const codes = new Map<string, IssuedCode>();
  const tokens = new Map<string, GitHubUser>();
  let stub: GitHubStub;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", stub.url);
    if (request.method === "GET" && url.pathname === "/login/oauth/authorize") {
      const query = url.searchParams;
      const redirectUri = query.get("redirect_uri");
      if (query.get("client_id") !== GITHUB_CLIENT.id || !redirectUri) {
        return sendJson(response, 400, { error: "unknown client" });
      }
      if (query.get("code_challenge_method") !== "S256" || !query.get("code_challenge")) {
        return sendJson(response, 400, { error: "PKCE with S256 is required here" });
      }
      const code = randomUUID();
      codes.set(code, {
        challenge: query.get("code_challenge") as string,
        redirectUri,
        user: structuredClone(stub.user),
      });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", query.get("state") ?? "");
      response.writeHead(302, { location: back.href });
      return response.end();
    }
    if (request.method === "POST" && url.pathname === "/login/oauth/access_token") {
      const form = new URLSearchParams(await readBody(request));
      await new Promise((resolve) => setTimeout(resolve, stub.tokenDelayMs));
      const basic = request.headers.authorization?.startsWith("Basic ")
        ? Buffer.from(request.headers.authorization.slice(6), "base64").toString().split(":")
        : undefined;
      const clientId = basic ? decodeURIComponent(basic[0] ?? "") : form.get("client_id");
      const secret = basic ? decodeURIComponent(basic[1] ?? "") : form.get("client_secret");
      if (clientId !== GITHUB_CLIENT.id || secret !== GITHUB_CLIENT.secret) {
        return sendJson(response, 200, { error: "incorrect_client_credentials" });
      }
      const issued = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      if (
        !issued ||
        issued.redirectUri !== form.get("redirect_uri") ||
        issued.challenge !== challenge
      ) {
        return sendJson(response, 200, { error: "bad_verification_code" });
      }
      const accessToken = `gho_${randomUUID().replaceAll("-", "")}`;
      tokens.set(accessToken, issued.user);
      return sendJson(response, 200, {
        access_token: accessToken,
        token_type: "bearer",
        scope: "read:user,user:email",
      });
    }
    const user = tokens.get(request.headers.authorization?.replace(/^Bearer /, "") ?? "");
    if (request.method === "GET" && url.pathname === "/api/user") {
      if (!user) return sendJson(response, 401, { message: "Bad credentials" });
      if (stub.userStatus === 299) return sendJson(response, 200, { login: 42 });
      if (stub.userStatus !== 200) return sendJson(response, stub.userStatus, { message: "oops" });
      return sendJson(response, 200, { id: user.id, login: user.login, name: user.name });
    }
    if (request.method === "GET" && url.pathname === "/api/user/emails") {
      if (!user) return sendJson(response, 401, { message: "Bad credentials" });
      return sendJson(
        response,
        200,
        user.emails.map((entry) => ({ ...entry, visibility: null })),
      );
    }
    return sendJson(response, 404, { message: "Not Found" });
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch(() => sendJson(response, 500, { message: "stub failed" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stub = {
    url: base,
    apiUrl: `${base}/api`,
    user: { id: 1, login: "octocat", name: "The Octocat", emails: [] },
    tokenDelayMs: 0,
    userStatus: 200,
    get pendingCodes() {
      return codes.size;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return stub;
}
