export { createLogger, REQUEST_COMPLETED, REQUEST_FAILED } from "./logger.js";
export {
  BOUND_TO_REQUEST,
  currentContext,
  type RequestContext,
  runWithContext,
} from "./request-context.js";
