import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Test files mostly wait on PostgreSQL, Redis and the servers they start, so one file more
    // than there are cores keeps the cores busy (vitest's default is one fewer). On 2 cores the
    // whole suite took 306 s with 3 files at a time against 460 s with 1; 4 gained nothing more.
    maxWorkers: availableParallelism() + 1,
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
          // PostgreSQL and Redis first (started here when not running: installed, or in Docker),
          // then the template database.
          globalSetup: ["test/local-services.ts", "test/global-setup.ts"],
          // Every answer of every app a test builds is checked against its OpenAPI document;
          // the permission catalog is the test modules' (the kit's and the notes fixture).
          setupFiles: ["test/helpers/contract.ts", "test/helpers/test-modules.ts"],
          environment: "node",
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
    // `npm run test:coverage`: the whole suite with V8 coverage of src/, gated by the thresholds.
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      exclude: ["src/**/*.d.ts"],
      reporter: ["text-summary", "html", "json-summary"],
      reportsDirectory: "coverage",
      // A failed run still says what it covered.
      reportOnFailure: true,
      // About three points under what the whole suite covered when they were set (statements
      // 92.3, branches 86.4, functions 91.9, lines 94.1): room for paths only some runs take
      // (retries, outages, timing), none for a module or a branch-heavy change without tests.
      thresholds: { statements: 89, branches: 83, functions: 89, lines: 91 },
    },
  },
});
