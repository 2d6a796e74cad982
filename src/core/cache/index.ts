export { type Cache, type CacheOptions, createCache } from "./cache.js";
export { createRedis, pingRedis, waitForRedis } from "./redis.js";
export { type CacheStore, memoryCacheStore, redisCacheStore } from "./store.js";
