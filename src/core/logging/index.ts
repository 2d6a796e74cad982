export { createLogger } from "./logger.js";
export {
  currentContext,
  type RequestContext,
  runWithContext,
} from "./request-context.js";
