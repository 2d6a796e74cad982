export { type Cache, createCache } from "./cache.js";
export { memoryOneTimeStore, type OneTimeStore, redisOneTimeStore } from "./one-time-store.js";
export { createRedis, pingRedis, waitForRedis } from "./redis.js";
export { memoryCacheStore, redisCacheStore } from "./store.js";
