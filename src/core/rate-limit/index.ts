export {
  createRateLimiting,
  type RateLimiting,
  type RateLimitSettings,
  type RouteRateLimit,
} from "./rate-limit.js";
