import { createHash, createHmac, hkdfSync } from "node:crypto";

/**
 * The signed tenant context. A tenant transaction's settings (`app.tenant_id`, `app.user_id`,
 * `app.request_id`) are transaction-local and any statement may change them with
 * `set_config`, so on their own they would let SQL injected into one tenant's transaction read
 * another tenant's rows. The application therefore signs them with HMAC-SHA256 under a key
 * derived from SECRET_KEY, `app.enter_tenant` stores the signature next to them, and
 * `app.current_tenant_id()` (which every tenant policy calls) checks it against the key in
 * `app.tenant_context_keys`, a table only app_system can read: a changed setting no longer
 * verifies and the policy sees no tenant at all. See docs/tenancy.md.
 *
 * PostgreSQL recomputes the HMAC with its built-in sha256() from the key's inner and outer pads
 * (RFC 2104), so neither pgcrypto nor any other extension is needed, and PGlite works the same.
 */

const BLOCK_BYTES = 64;
const KEY_INFO = "kit tenant context";

export interface TenantContextKey {
  /** Names the key in `app.tenant_context_keys`; derived from the key, reveals nothing of it. */
  readonly id: string;
  /** The key XOR 0x36, and XOR 0x5c, padded to SHA-256's block: what PostgreSQL stores. */
  readonly innerPad: Buffer;
  readonly outerPad: Buffer;
  /** `<key id>.<hex HMAC>` of the context, the value `app.enter_tenant` stores. */
  sign(tenantId: string, userId: string | null, requestId: string | null): string;
}

const padded = (key: Buffer, byte: number) =>
  Buffer.from(Array.from({ length: BLOCK_BYTES }, (_, index) => (key[index] ?? 0) ^ byte));

/**
 * PostgreSQL prints a uuid in lower case; the signature covers the text PostgreSQL will read
 * back from the setting, so the application signs the same text.
 */
const canonical = (uuid: string | null) => (uuid ?? "").toLowerCase();

/** The message signed: tenant id, user id and request id, in the order the database reads them. */
export const contextMessage = (
  tenantId: string,
  userId: string | null,
  requestId: string | null,
): string => `${canonical(tenantId)}:${canonical(userId)}:${requestId ?? ""}`;

export function deriveTenantContextKey(secretKey: string): TenantContextKey {
  const key = Buffer.from(hkdfSync("sha256", secretKey, "", KEY_INFO, 32));
  const id = createHash("sha256").update("key id:").update(key).digest("hex").slice(0, 16);
  return {
    id,
    innerPad: padded(key, 0x36),
    outerPad: padded(key, 0x5c),
    sign: (tenantId, userId, requestId) =>
      `${id}.${createHmac("sha256", key)
        .update(contextMessage(tenantId, userId, requestId))
        .digest("hex")}`,
  };
}

/** SQLSTATE raised by `app.enter_tenant` when the signature names a key the table lacks. */
export const UNKNOWN_CONTEXT_KEY = "KT003";
