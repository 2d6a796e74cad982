export {
  createLimiterFactory,
  createRateLimiting,
  type LimiterFactory,
  type RateLimiting,
} from "./rate-limit.js";
