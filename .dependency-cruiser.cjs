// Layer rules for the modular monolith (see docs/architecture.md):
// routes -> services -> repositories -> tables; core never imports modules; a module's index.ts
// is its public face. `npm run lint` runs `depcruise src --config .dependency-cruiser.cjs`.
//
// Paths are matched relative to the directory depcruise runs in, so every rule is anchored at
// `^src/`: it then applies both to this repository and to test/fixtures/layer-violation (whose
// own src/ is cruised by test/unit/layers.test.ts to prove that each rule bites).
const path = require("node:path");

/** Matches a TypeScript/JavaScript source file name ending. */
const SOURCE = "[.](?:ts|mts|cts|tsx|js|mjs|cjs|jsx)$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    /* ------------------------------------------------------------------ layer rules */
    {
      name: "core-never-imports-modules",
      comment:
        "src/core/ is the cross-cutting layer every module builds on. It may not depend on a " +
        "feature module (src/modules/), on the root router (src/api/) or on the process entries " +
        "and the composition root (app.ts, app/, infrastructure.ts, background.ts, main.ts, " +
        "server.ts, worker.ts): pass what core needs in as a parameter (a callback, an " +
        "interface) instead.",
      severity: "error",
      from: { path: "^src/core/" },
      to: {
        path: `^src/(?:modules/|api/|app/|(?:app|infrastructure|background|main|server|worker)${SOURCE})`,
      },
    },
    {
      name: "modules-never-import-the-composition",
      comment:
        "The composition root (app.ts, app/, infrastructure.ts, background.ts) and the process " +
        "entries (main.ts, server.ts, worker.ts) build the application from the modules, the " +
        "root router and core; a module or src/api/ reaching back into them ties a feature to " +
        "one way of composing it. Take what you need from ModuleDependencies or core instead.",
      severity: "error",
      from: { path: "^src/(?:modules|api)/" },
      to: {
        path: `^src/(?:app/|(?:app|infrastructure|background|main|server|worker)${SOURCE})`,
      },
    },
    {
      name: "routes-never-import-repositories",
      comment:
        "A route handler talks to a service, never to a repository: the service is where tenant " +
        "scope, permissions, auditing and transactions are applied. Call the module's service.",
      severity: "error",
      from: { path: "[.]routes[.](?:ts|mts|cts|tsx|js|mjs)$" },
      to: { path: "[.]repository[.](?:ts|mts|cts|tsx|js|mjs)$" },
    },
    {
      name: "tables-import-nothing-of-ours",
      comment:
        "A table definition (*.table.ts) is the bottom layer: it may import packages (drizzle-orm) " +
        "and node built-ins, and of our own code only the column helpers in src/core/database/. " +
        "Anything else drags application code into migrations and schema tooling.",
      severity: "error",
      from: { path: "[.]table[.](?:ts|mts|cts|tsx|js|mjs)$" },
      to: {
        pathNot: ["^src/core/database/", "(?:^|/)node_modules/"],
        dependencyTypesNot: ["core"],
      },
    },
    {
      name: "modules-through-index",
      comment:
        "A module's index.ts is its public face. Code in src/modules/<a>/ may import another " +
        "module <b> only through src/modules/<b>/index.ts; export what you need from there.",
      severity: "error",
      from: { path: "^src/modules/([^/]+)/" },
      to: {
        path: "^src/modules/[^/]+/",
        pathNot: ["^src/modules/$1/", `^src/modules/[^/]+/index${SOURCE}`],
      },
    },
    {
      name: "sql-only-in-repositories",
      comment:
        "A module's SQL lives in its repositories (*.repository.ts) and its tables (*.table.ts): " +
        "a service, a route or any other file of a module never imports drizzle-orm (nor its " +
        "`sql`), so every query of a module is found in one place, with its tenant predicate. " +
        "Add a repository function and call it with the scope.",
      severity: "error",
      from: {
        path: "^src/modules/",
        pathNot: `[.](?:repository|table)${SOURCE}`,
      },
      to: { path: "(?:^|/)node_modules/drizzle-orm/" },
    },
    {
      name: "tables-only-in-repositories",
      comment:
        "Only a repository (or another table, for a foreign key) imports a table definition " +
        "(*.table.ts), types included: a service takes its row types from its repository " +
        "(`export type { ItemRow }`), and no other module sees the table at all.",
      severity: "error",
      from: {
        path: "^src/modules/",
        pathNot: `[.](?:repository|table)${SOURCE}`,
      },
      to: { path: `[.]table${SOURCE}` },
    },
    {
      name: "index-exposes-no-repository",
      comment:
        "A module's index.ts is what other modules may use: its module, its services (built " +
        "with `create<Name>Service`) and the schemas and types it shares. Its repositories and " +
        "tables stay private: give the other module a service method instead.",
      severity: "error",
      from: { path: `^src/modules/[^/]+/index${SOURCE}` },
      to: { path: `[.](?:repository|table)${SOURCE}` },
    },
    {
      name: "not-to-test",
      comment:
        "Application code may not depend on tests, test helpers or fixtures: move what is shared " +
        "into src/.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: ["^test/", `[.](?:spec|test)${SOURCE}`] },
    },

    /* --------------------------------------------------------------- hygiene rules */
    {
      name: "no-circular",
      comment:
        "This dependency is part of a cycle. Cycles make load order fragile (undefined at import " +
        "time under ESM) and blur layers: invert the dependency or move the shared part down.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-orphans",
      comment:
        "This module is imported by nothing and imports nothing: it is probably dead. Use it or " +
        "remove it. Declaration files and configuration files are exempt.",
      severity: "error",
      from: {
        orphan: true,
        pathNot: [
          "(?:^|/)[.][^/]+[.](?:js|cjs|mjs|ts|cts|mts|json)$", // dot files (.dependency-cruiser.cjs)
          "[.]d[.](?:ts|mts|cts)$", // TypeScript declaration files
          "(?:^|/)tsconfig[.][^/]*json$", // tsconfig.json, tsconfig.build.json
          "(?:^|/)package[.]json$",
          "(?:^|/)[^/]+[.]config[.](?:js|cjs|mjs|ts|cts|mts|json)$", // vitest.config.ts and the like
        ],
      },
      to: {},
    },
    {
      name: "not-to-unresolvable",
      comment:
        "This import cannot be resolved to a file on disk. If it is a package, add it to " +
        "package.json; otherwise fix the path (imports use the .js extension of the .ts file).",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "no-non-package-json",
      comment:
        "This module uses a package that is not declared in package.json (it only works because " +
        "something else installed it). Add it to dependencies.",
      severity: "error",
      from: {},
      to: { dependencyTypes: ["npm-no-pkg", "npm-unknown"] },
    },
    {
      name: "not-to-dev-dep",
      comment:
        "Application code (src/) ships to production, where devDependencies are not installed. " +
        "Move the package to dependencies, or the code out of src/. Type-only imports and @types " +
        "packages are exempt: they are erased at compile time.",
      severity: "error",
      from: { path: "^src/", pathNot: `[.](?:spec|test)${SOURCE}` },
      to: {
        dependencyTypes: ["npm-dev"],
        dependencyTypesNot: ["type-only"],
        pathNot: ["(?:^|/)node_modules/@types/"],
      },
    },
    {
      name: "no-duplicate-dep-types",
      comment:
        "This package is listed in more than one section of package.json (for example both " +
        "dependencies and devDependencies). Keep it in one.",
      severity: "error",
      from: {},
      to: { moreThanOneDependencyType: true, dependencyTypesNot: ["type-only"] },
    },
    {
      name: "no-deprecated-core",
      comment:
        "This module uses a deprecated Node.js core module; use its replacement (URL instead of " +
        "punycode, events instead of domain). async_hooks is deliberately not listed: its " +
        "AsyncLocalStorage is stable and carries the request context.",
      severity: "error",
      from: {},
      to: {
        dependencyTypes: ["core"],
        path: [
          "^v8/tools/",
          "^node-inspect/",
          "^(?:node:)?punycode$",
          "^(?:node:)?domain$",
          "^(?:node:)?constants$",
          "^(?:node:)?sys$",
          "^(?:node:)?_linklist$",
          "^(?:node:)?_stream_wrap$",
        ],
      },
    },
  ],
  options: {
    doNotFollow: { path: ["node_modules"] },
    moduleSystems: ["es6", "cjs"],
    // Type-only imports are dependencies too (a route importing a repository's types still
    // couples the layers).
    tsPreCompilationDeps: true,
    // Anchored to this file, so cruising a fixture directory resolves like the real tree.
    tsConfig: { fileName: path.join(__dirname, "tsconfig.json") },
    detectProcessBuiltinModuleCalls: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
