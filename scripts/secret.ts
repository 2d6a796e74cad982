/**
 * Prints a fresh SECRET_KEY and METRICS_TOKEN as lines of an env file, for production and
 * staging: `npm run -s secret >> .env.production` (-s keeps npm's own lines out). How they are
 * drawn, and checked against production's configuration rules: scripts/lib/secrets.ts.
 */
import { freshSecrets } from "./lib/secrets.js";

for (const [variable, value] of Object.entries(freshSecrets())) console.log(`${variable}=${value}`);
