-- The SQL of the statements prepared in database.ts, as sent to PostgreSQL.
-- Written by `npm run docs:generate`; test/unit/generated-docs.test.ts fails when it differs.

-- enter_tenant (ENTER_TENANT_SQL)
select set_config('role', 'app_tenant', true), app.enter_tenant($1::uuid, $2::uuid, $3::text), set_config('statement_timeout', $4::text, true), set_config('idle_in_transaction_session_timeout', $5::text, true);
