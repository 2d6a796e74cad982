export { createLogger, REQUEST_COMPLETED, REQUEST_FAILED } from "./logger.js";
export {
  currentContext,
  type RequestContext,
  runWithContext,
} from "./request-context.js";
export { RequestLogger } from "./request-logger.js";
