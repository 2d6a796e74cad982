export { createRedis, pingRedis } from "./redis.js";
