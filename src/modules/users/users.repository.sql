-- The SQL of the statements prepared in users.repository.ts, as sent to PostgreSQL.
-- Written by `npm run docs:generate`; test/unit/generated-docs.test.ts fails when it differs.

-- users_find_self
-- $1 :userId
select "id", "email", "name", "email_verified_at", "is_active", "created_at", "updated_at" from "users" where "users"."id" = $1;

-- users_rename_self
-- $1 :name, $2 :userId
update "users" set "name" = $1 where "users"."id" = $2 returning "id", "email", "name", "email_verified_at", "is_active", "created_at", "updated_at";
