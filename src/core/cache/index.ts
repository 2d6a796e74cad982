export { type Cache, type CacheOptions, createCache } from "./cache.js";
export { memoryOneTimeStore, type OneTimeStore, redisOneTimeStore } from "./one-time-store.js";
export { createRedis, pingRedis, waitForRedis } from "./redis.js";
export { type CacheStore, memoryCacheStore, redisCacheStore } from "./store.js";
