export {
  AppError,
  conflict,
  forbidden,
  notFound,
  unauthorized,
} from "./app-error.js";
export { type ProblemCode, problemCatalog } from "./catalog.js";
export {
  clientErrorResponder,
  errorHandlerPlugin,
  frameworkErrorResponder,
  sendProblem,
} from "./error-handler.js";
export { PROBLEM_CONTENT_TYPE, problemSchema } from "./problem.js";
