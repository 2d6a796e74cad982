/**
 * Every route declares who may call it in `config.access`; routes without a declaration make
 * `createApp` throw (see route-standards.ts). The default is therefore never "open by accident".
 */
export type AccessDeclaration =
  | { readonly kind: "public" }
  | {
      readonly kind: "signed-in";
      /** Also accepts a token without a tenant (a user with no active tenant). */
      readonly tenantOptional?: true;
    }
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

/**
 * Any signed-in user, also one with no active tenant (whose token carries none): for routes
 * about the user's own account and about getting into a tenant. Every other route answers
 * such a token 403.
 */
export const signedInTenantOptional = Object.freeze({
  kind: "signed-in",
  tenantOptional: true,
}) satisfies AccessDeclaration;

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
  /** The token's tenant; null for a user with no active tenant (see signedInTenantOptional). */
  readonly tenantId: string | null;
  readonly sessionId: string;
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}
