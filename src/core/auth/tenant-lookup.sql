-- The SQL of the statements prepared in tenant-lookup.ts, as sent to PostgreSQL.
-- Written by `npm run docs:generate`; test/unit/generated-docs.test.ts fails when it differs.

-- tenant_lookup
-- $1 :tenantId
select "id", "name", "slug", "plan", "status", "created_at", "updated_at" from "tenants" where "tenants"."id" = $1;
