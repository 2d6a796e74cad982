-- The SQL of the statements prepared in tenants.repository.ts, as sent to PostgreSQL.
-- Written by `npm run docs:generate`; test/unit/generated-docs.test.ts fails when it differs.

-- tenants_find_current
-- $1 :tenantId
select "id", "name", "slug", "plan", "status", "created_at", "updated_at" from "tenants" where "tenants"."id" = $1;

-- tenants_rename_current
-- $1 :name, $2 :tenantId
update "tenants" set "name" = $1 where "tenants"."id" = $2 returning "id", "name", "slug", "plan", "status", "created_at", "updated_at";

-- tenants_delete_current
-- $1 :tenantId
delete from "tenants" where "tenants"."id" = $1 returning "id", "name", "slug", "plan", "status", "created_at", "updated_at";
