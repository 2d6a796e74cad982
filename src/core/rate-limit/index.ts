export {
  createLimiterFactory,
  createRateLimiting,
  type LimiterFactory,
  type RateLimiting,
  type RateLimitSettings,
  type RouteRateLimit,
} from "./rate-limit.js";
