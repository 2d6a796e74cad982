import { defineConfig } from "drizzle-kit";

// Tables are found by file name; every *.table.ts under src/ is part of the schema.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/**/*.table.ts",
  // db:check generates into a scratch copy to detect drift without touching migrations/.
  out: process.env.DRIZZLE_OUT ?? "./migrations",
  dbCredentials: {
    url: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
  },
  migrations: { table: "migrations", schema: "drizzle" },
  strict: true,
  verbose: false,
});
