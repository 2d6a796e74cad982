export { healthRoutes, type ReadinessCheck } from "./health.routes.js";
export { docsPage, docsSecurityHeaders, openApiPlugin } from "./openapi.js";
