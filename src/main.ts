import { loadProcessConfig } from "./config.js";
import { startServer } from "./server.js";

await startServer(loadProcessConfig());
