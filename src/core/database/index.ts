export { createDatabasePool, pingDatabase } from "./pool.js";
