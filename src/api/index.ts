export { healthRoutes } from "./health.routes.js";
export { docsPage, docsSecurityHeaders, openApiPlugin } from "./openapi.js";
