# The npm scripts of package.json under the same names: `just <recipe> [args...]` runs
# `npm run <script> -- [args...]`. just comes with the project (devDependency rust-just):
# `npx just <recipe>`, or plain `just` when node_modules/.bin is on PATH.
# just recipe names cannot contain ':', so the npm scripts start:worker, test:unit,
# test:integration, test:coverage, lint:openapi, db:generate, db:check, db:citus, db:reset,
# docs:generate, docs:check and new:module are the recipes start-worker, test-unit,
# test-integration, test-coverage, lint-openapi, db-generate, db-check, db-citus, db-reset,
# docs-generate, docs-check and new-module.
# Extra arguments go to the script's last command, exactly as with `npm run <script> -- args`.

set shell := ["bash", "-cu"]
set positional-arguments

# List the recipes
default:
    @{{ quote(just_executable()) }} --justfile {{ quote(justfile()) }} --list

# Start the API with reload on change (npm run dev)
dev *args:
    @npm run dev -- "$@"

# Compile TypeScript to dist/ (npm run build)
build *args:
    @npm run build -- "$@"

# Run the compiled API from dist/ (npm run start)
start *args:
    @npm run start -- "$@"

# Run the compiled job worker from dist/ (npm run start:worker)
start-worker *args:
    @npm run start:worker -- "$@"

# Run every test (npm test)
test *args:
    @npm run test -- "$@"

# Run the unit tests (npm run test:unit)
test-unit *args:
    @npm run test:unit -- "$@"

# Run the integration tests against PostgreSQL and Redis (npm run test:integration)
test-integration *args:
    @npm run test:integration -- "$@"

# Run every test with V8 coverage of src/, failing under the thresholds (npm run test:coverage)
test-coverage *args:
    @npm run test:coverage -- "$@"

# Biome, tsc, dependency-cruiser, knip and the OpenAPI lint (npm run lint)
lint *args:
    @npm run lint -- "$@"

# Write openapi.json and lint it with Spectral and Redocly (npm run lint:openapi)
lint-openapi:
    @npm run lint:openapi

# Format and apply safe fixes (npm run format)
format *args:
    @npm run format -- "$@"

# Write the OpenAPI document to openapi.json (npm run openapi)
openapi *args:
    @npm run openapi -- "$@"

# Write the TypeScript client's types from the OpenAPI document (npm run client)
client *args:
    @npm run client -- "$@"

# Apply database migrations (npm run migrate)
migrate *args:
    @npm run migrate -- "$@"

# Drop, recreate and migrate the database; -- --seed seeds it (npm run db:reset)
db-reset *args:
    @npm run db:reset -- "$@"

# Generate a migration from the table definitions (npm run db:generate)
db-generate *args:
    @npm run db:generate -- "$@"

# Fail if the schema and the migrations have drifted apart (npm run db:check)
db-check *args:
    @npm run db:check -- "$@"

# Check the schema can move to Citus and print the SQL that moves it (npm run db:citus)
db-citus *args:
    @npm run db:citus -- "$@"

# Write the README and docs sections and the SQL snapshots generated from the code (npm run docs:generate)
docs-generate *args:
    @npm run docs:generate -- "$@"

# Fail if a generated docs section or SQL snapshot differs from the code (npm run docs:check)
docs-check *args:
    @npm run docs:check -- "$@"

# Load development data (npm run seed)
seed *args:
    @npm run seed -- "$@"

# Print a new SECRET_KEY and METRICS_TOKEN for production (npm run secret)
secret *args:
    @npm run secret -- "$@"

# Start a client project: rename, .env with fresh secrets, optionally without the items example (npm run init)
init *args:
    @npm run init -- "$@"

# Write a tenant-scoped module with its migrations and tests, and register it (-- projects --fields name:text,done:boolean) (npm run new:module)
new-module *args:
    @npm run new:module -- "$@"

# Start PostgreSQL and Redis in Docker for development (npm run services)
services *args:
    @npm run services -- "$@"

# Start the background job worker from source; needs REDIS_URL (npm run worker)
worker *args:
    @npm run worker -- "$@"

# Inspect the job queue: counts, failed [n], retry-failed (npm run jobs)
jobs *args:
    @npm run jobs -- "$@"

# Platform admins: list, grant <email>, revoke <email> (npm run platform-admin)
platform-admin *args:
    @npm run platform-admin -- "$@"

# A Node REPL with the config, the app, the database, Redis and the modules (npm run shell)
shell *args:
    @npm run shell -- "$@"

# Build, then run the load benchmarks and write bench/results/latest.json (npm run bench)
bench *args:
    @npm run bench -- "$@"

# The production topology on this machine, without Docker: Caddy, APIs, workers, PgBouncer,
# PostgreSQL, Redis (npm run topology; -- --once starts, checks and stops)
topology *args:
    @npm run topology -- "$@"

# Faults under load against the topology: database restarts, a rolling deploy, a Redis outage,
# a killed worker (npm run chaos; -- --short stops Redis for 10 s instead of 30)
chaos *args:
    @npm run chaos -- "$@"

# Mixed traffic against the topology for a long time: memory, connections, bounded tables and
# Redis keys, the outbox drained (npm run soak; -- --minutes 3 for a short run)
soak *args:
    @npm run soak -- "$@"
