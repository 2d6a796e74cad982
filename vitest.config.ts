import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // PostgreSQL and Redis first (started here when installed but not running), then the
          // template database.
          globalSetup: ["test/local-services.ts", "test/global-setup.ts"],
          // Every answer of every app a test builds is checked against its OpenAPI document.
          setupFiles: ["test/helpers/contract.ts"],
          environment: "node",
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
