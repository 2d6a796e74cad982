/**
 * Every route declares who may call it in `config.access`; routes without a declaration make
 * `createApp` throw (see route-standards.ts). The default is therefore never "open by accident".
 */
export type AccessDeclaration =
  | { readonly kind: "public" }
  | { readonly kind: "signed-in" }
  | { readonly kind: "platform-admin" }
  | {
      readonly kind: "permission";
      readonly mode: "all" | "any";
      readonly permissions: readonly string[];
    };

/** Anyone may call the route, without a token. */
export const publicAccess = Object.freeze({ kind: "public" }) satisfies AccessDeclaration;

/** Any signed-in user may call the route; it needs no tenant permission. */
export const signedIn = Object.freeze({ kind: "signed-in" }) satisfies AccessDeclaration;

/** Only platform administrators (`users.is_platform_admin`) may call the route. */
export const platformAdminOnly = Object.freeze({
  kind: "platform-admin",
}) satisfies AccessDeclaration;

declare module "fastify" {
  interface FastifyContextConfig {
    access?: AccessDeclaration;
  }
}

/** Who is calling: set by the authentication hook for a valid access token. */
export interface Principal {
  readonly userId: string;
  readonly tenantId: string;
  readonly sessionId: string;
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}
