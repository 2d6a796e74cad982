import { deserialize, serialize } from "node:v8";
import type { FastifyBaseLogger } from "fastify";
import { currentContext } from "../logging/index.js";
import type { CacheStore } from "./store.js";

/**
 * Read-through cache over a CacheStore.
 *
 * - Keys are namespaced per tenant automatically: inside a request with a tenant, every key
 *   lives under that tenant, so one tenant can never read another's entry. Pass
 *   `{ scope: "global" }` for entries that belong to no tenant.
 * - A whole namespace is invalidated in O(1) by bumping its version counter; old entries are
 *   simply never read again and expire on their own (no KEYS or SCAN). TTLs are capped at
 *   7 days and counters live twice that, so a counter that expires resurrects nothing.
 * - Concurrent misses of one key in this process call `load` once (stampede protection).
 * - Values are serialised with the structured-clone format, so dates, maps and sets survive.
 * - An outage of the store degrades to calling `load`; it is logged, never a 500.
 */
interface CacheOptions {
  /** Entries grouped for invalidation together. Default: "default". */
  namespace?: string;
  /** "tenant" (default): under the request's tenant when there is one. "global": shared. */
  scope?: "tenant" | "global";
}

export interface Cache {
  getOrSet<T>(
    key: string,
    ttlSeconds: number,
    load: () => Promise<T>,
    options?: CacheOptions,
  ): Promise<T>;
  get<T>(key: string, options?: CacheOptions): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlSeconds: number, options?: CacheOptions): Promise<void>;
  delete(key: string, options?: CacheOptions): Promise<void>;
  /** Makes every entry of the namespace (in the current tenant, or global) unreadable at once. */
  invalidateNamespace(namespace: string, options?: Pick<CacheOptions, "scope">): Promise<void>;
  readonly kind: CacheStore["kind"];
}

const OUTAGE_LOG_INTERVAL_MS = 30_000;
/** No entry lives longer than this, so a namespace version may expire after it. */
const MAX_TTL_SECONDS = 7 * 24 * 3600;
const VERSION_TTL_SECONDS = 2 * MAX_TTL_SECONDS;
const boundedTtl = (ttlSeconds: number) =>
  Math.max(1, Math.min(Math.ceil(ttlSeconds), MAX_TTL_SECONDS));

export function createCache(
  store: CacheStore,
  options: { prefix: string; logger: FastifyBaseLogger },
): Cache {
  const inFlight = new Map<string, Promise<unknown>>();
  let lastOutageLog = 0;

  const reportOutage = (error: unknown) => {
    const now = Date.now();
    if (now - lastOutageLog < OUTAGE_LOG_INTERVAL_MS) return;
    lastOutageLog = now;
    options.logger.warn({ err: error }, "cache unavailable; serving without it");
  };

  /** `{prefix}c:{t:<tenant>}:<namespace>:` with a Redis Cluster hash tag per tenant. */
  const namespaceKey = (cacheOptions: CacheOptions = {}) => {
    const tenantId = cacheOptions.scope === "global" ? undefined : currentContext()?.tenantId;
    const owner = tenantId ? `t:${tenantId}` : "global";
    return `${options.prefix}c:{${owner}}:${cacheOptions.namespace ?? "default"}:`;
  };

  /** Where `key` lives under its namespace's current version, and the bytes stored there. */
  async function locate(key: string, cacheOptions?: CacheOptions) {
    const base = namespaceKey(cacheOptions);
    const { version, value } = await store.getVersioned(`${base}version`, `${base}v`, key);
    return { valueKey: `${base}v${version}:${key}`, stored: value };
  }

  const decode = <T>(stored: Buffer | undefined) =>
    stored === undefined ? undefined : (deserialize(stored) as T);

  const cache: Cache = {
    kind: store.kind,

    async getOrSet<T>(
      key: string,
      ttlSeconds: number,
      load: () => Promise<T>,
      cacheOptions?: CacheOptions,
    ) {
      const flightKey = namespaceKey(cacheOptions) + key;
      const pending = inFlight.get(flightKey);
      if (pending) return pending as Promise<T>;
      const flight = (async () => {
        let valueKey: string | undefined;
        try {
          const located = await locate(key, cacheOptions);
          if (located.stored !== undefined) return decode<T>(located.stored) as T;
          valueKey = located.valueKey;
        } catch (error) {
          reportOutage(error);
          return load();
        }
        const value = await load();
        store.set(valueKey, serialize(value), boundedTtl(ttlSeconds)).catch(reportOutage);
        return value;
      })();
      inFlight.set(flightKey, flight);
      try {
        return await flight;
      } finally {
        inFlight.delete(flightKey);
      }
    },

    async get<T>(key: string, cacheOptions?: CacheOptions) {
      try {
        return decode<T>((await locate(key, cacheOptions)).stored);
      } catch (error) {
        reportOutage(error);
        return undefined;
      }
    },

    async set(key, value, ttlSeconds, cacheOptions) {
      try {
        const { valueKey } = await locate(key, cacheOptions);
        await store.set(valueKey, serialize(value), boundedTtl(ttlSeconds));
      } catch (error) {
        reportOutage(error);
      }
    },

    async delete(key, cacheOptions) {
      try {
        const { valueKey } = await locate(key, cacheOptions);
        await store.delete(valueKey);
      } catch (error) {
        reportOutage(error);
      }
    },

    async invalidateNamespace(namespace, cacheOptions) {
      try {
        const versionKey = `${namespaceKey({ ...cacheOptions, namespace })}version`;
        await store.increment(versionKey, VERSION_TTL_SECONDS);
      } catch (error) {
        // The change itself succeeded; entries written before it stay readable until their TTL.
        options.logger.error({ err: error, namespace }, "cache invalidation failed");
      }
    },
  };
  return cache;
}
