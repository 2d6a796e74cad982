export { healthRoutes, type ReadinessCheck } from "./health.routes.js";
export { docsPage, openApiPlugin } from "./openapi.js";
