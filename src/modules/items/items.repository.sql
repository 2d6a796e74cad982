-- The SQL of the statements prepared in items.repository.ts, as sent to PostgreSQL.
-- Written by `npm run docs:generate`; test/unit/generated-docs.test.ts fails when it differs.

-- items_find_by_id
-- $1 :tenantId, $2 :id
select "tenant_id", "id", "name", "description", "created_by", "created_at", "updated_at" from "items" where ("items"."tenant_id" = $1 and "items"."id" = $2);

-- items_first_page
-- $1 :tenantId, $2 :limit
select "tenant_id", "id", "name", "description", "created_by", "created_at", "updated_at" from "items" where "items"."tenant_id" = $1 order by "items"."id" desc limit $2;

-- items_page_after
-- $1 :tenantId, $2 :after, $3 :limit
select "tenant_id", "id", "name", "description", "created_by", "created_at", "updated_at" from "items" where ("items"."tenant_id" = $1 and "items"."id" < $2) order by "items"."id" desc limit $3;

-- items_insert
-- $1 :tenantId, $2 :id, $3 :name, $4 :description, $5 :createdBy
insert into "items" ("tenant_id", "id", "name", "description", "created_by", "created_at", "updated_at") values ($1, $2, $3, $4, $5, default, default) returning "tenant_id", "id", "name", "description", "created_by", "created_at", "updated_at";

-- items_update
-- $1 :setName, $2 :name, $3 :setDescription, $4 :description, $5 :tenantId, $6 :id
update "items" set "name" = case when $1::boolean then $2::text else "items"."name" end, "description" = case when $3::boolean then $4::text else "items"."description" end where ("items"."tenant_id" = $5 and "items"."id" = $6) returning "tenant_id", "id", "name", "description", "created_by", "created_at", "updated_at";

-- items_delete
-- $1 :tenantId, $2 :id
delete from "items" where ("items"."tenant_id" = $1 and "items"."id" = $2) returning "tenant_id", "id", "name", "description", "created_by", "created_at", "updated_at";
