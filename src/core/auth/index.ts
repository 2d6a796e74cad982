export {
  accessOf,
  authenticationPlugin,
  bearerTokenOf,
  principalOf,
} from "./authentication.js";
export {
  type Access,
  createSessionGuard,
  publishRevocation,
  type Revocation,
  revocationChannel,
  type SessionGuard,
} from "./session-guard.js";
export { createTenantLookup, TENANT_CACHE_NAMESPACE, type TenantLookup } from "./tenant-lookup.js";
export { tenantScopePlugin } from "./tenant-scope.js";
export {
  ACCESS_TOKEN_TTL_SECONDS,
  createTokenService,
  InvalidTokenError,
  type TokenService,
} from "./tokens.js";
