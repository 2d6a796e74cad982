-- Tenant traffic apart from system traffic, and a tenant context SQL cannot forge
-- (hand-written; see docs/tenancy.md, "What row-level security protects against").
--
-- 1. Group roles for the two login roles the application connects as (roles are cluster-wide,
--    so each is created only when no other database created it first):
--      app_tenant_login: may assume app_tenant and nothing else; holds what the tenant pool's
--                        login calls before its role switch (app.enter_tenant) and without one
--                        (app.session_access).
--      app_system_login: may assume app_system; for bypassTenantIsolation and the outbox relay.
--    A login role granted one of them (INHERIT, the default) gets that group's few function
--    privileges and no table privilege (the groups are NOINHERIT, so app_tenant's and
--    app_system's grants stay behind the role switch).
DO $$
BEGIN
  CREATE ROLE app_tenant_login NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
--> statement-breakpoint
DO $$
BEGIN
  CREATE ROLE app_system_login NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
--> statement-breakpoint
GRANT app_tenant TO app_tenant_login;
--> statement-breakpoint
GRANT app_system TO app_system_login;
--> statement-breakpoint
GRANT USAGE ON SCHEMA app TO app_tenant_login;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.session_access(uuid, uuid, uuid) TO app_tenant_login;
--> statement-breakpoint
-- 2. Nothing the tenant pool's connections keep between transactions may be created by a
--    tenant: a temporary table named like a kit table would shadow it (pg_temp is searched
--    first) for the next transactions on that pooled connection, whichever tenant they serve.
--    PostgreSQL 15 already denies CREATE on public to PUBLIC; a database upgraded from an older
--    version may still allow it.
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END $$;
--> statement-breakpoint
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
--> statement-breakpoint
-- 3. The signed tenant context. The application signs (tenant id, user id, request id) with
--    HMAC-SHA256 under a key derived from SECRET_KEY and registers the key here at start-up (as
--    its inner and outer pads, so sha256() alone recomputes the HMAC). Only app_system and the
--    owner can read the table; tenant transactions never can.
CREATE TABLE app.tenant_context_keys (
  id text PRIMARY KEY,
  inner_pad bytea NOT NULL CHECK (octet_length(inner_pad) = 64),
  outer_pad bytea NOT NULL CHECK (octet_length(outer_pad) = 64),
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
REVOKE ALL ON app.tenant_context_keys FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT ON app.tenant_context_keys TO app_system;
--> statement-breakpoint
-- Whether `p_signature` (`<key id>.<hex HMAC>`) signs the context: true or false, or NULL when
-- its key is not registered. Called by the functions below only.
CREATE FUNCTION app.tenant_context_valid(p_tenant_id text, p_user_id text, p_request_id text,
    p_signature text)
  RETURNS boolean
  LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $$
DECLARE
  v_inner bytea;
  v_outer bytea;
BEGIN
  SELECT k.inner_pad, k.outer_pad INTO v_inner, v_outer
    FROM app.tenant_context_keys k
   WHERE k.id = split_part(p_signature, '.', 1);
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN encode(sha256(v_outer || sha256(v_inner || convert_to(
           coalesce(p_tenant_id, '') || ':' || coalesce(p_user_id, '') || ':'
             || coalesce(p_request_id, ''), 'UTF8'))), 'hex')
         = split_part(p_signature, '.', 2);
END
$$;
--> statement-breakpoint
ALTER FUNCTION app.tenant_context_valid(text, text, text, text) OWNER TO app_system;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app.tenant_context_valid(text, text, text, text) FROM PUBLIC;
--> statement-breakpoint
-- The current tenant: the setting, if its signature verifies; NULL otherwise. STABLE, and
-- every policy calls it as `(SELECT app.current_tenant_id())`, an InitPlan evaluated once per
-- statement whose value the (tenant_id, ...) indexes still use.
CREATE OR REPLACE FUNCTION app.current_tenant_id() RETURNS uuid
  LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $$
DECLARE
  v_tenant text := current_setting('app.tenant_id', true);
BEGIN
  IF v_tenant IS NULL OR v_tenant = '' THEN
    RETURN NULL;
  END IF;
  IF app.tenant_context_valid(v_tenant, current_setting('app.user_id', true),
       current_setting('app.request_id', true), current_setting('app.tenant_context', true)) THEN
    RETURN v_tenant::uuid;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
ALTER FUNCTION app.current_tenant_id() OWNER TO app_system;
--> statement-breakpoint
-- The signed-in user of a tenant transaction, under the same signature.
CREATE OR REPLACE FUNCTION app.current_user_id() RETURNS uuid
  LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $$
DECLARE
  v_user text := current_setting('app.user_id', true);
BEGIN
  IF v_user IS NULL OR v_user = '' THEN
    RETURN NULL;
  END IF;
  IF app.tenant_context_valid(current_setting('app.tenant_id', true), v_user,
       current_setting('app.request_id', true), current_setting('app.tenant_context', true)) THEN
    RETURN v_user::uuid;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
ALTER FUNCTION app.current_user_id() OWNER TO app_system;
--> statement-breakpoint
-- Enters a tenant for the rest of the transaction, with the application's signature of the
-- context: the one place the settings are made. A signature under a key the table lacks raises
-- KT003 (the application registers its key and tries again), a missing tenant KT001 and a
-- suspended one KT002, before any setting is made. A wrong signature is stored as it is: the
-- policies then see no tenant.
CREATE FUNCTION app.enter_tenant(p_tenant_id uuid, p_user_id uuid, p_request_id text,
    p_signature text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
DECLARE
  v_status text;
  v_key_known boolean;
BEGIN
  SELECT t.status,
         EXISTS (SELECT 1 FROM app.tenant_context_keys k WHERE k.id = split_part(p_signature, '.', 1))
    INTO v_status, v_key_known
    FROM (SELECT 1) AS one
    LEFT JOIN public.tenants t ON t.id = p_tenant_id;
  IF NOT v_key_known THEN
    RAISE EXCEPTION 'the tenant context key is not registered' USING ERRCODE = 'KT003';
  ELSIF v_status IS NULL THEN
    RAISE EXCEPTION 'tenant does not exist' USING ERRCODE = 'KT001';
  ELSIF v_status <> 'active' THEN
    RAISE EXCEPTION 'tenant is %', v_status USING ERRCODE = 'KT002';
  END IF;
  PERFORM set_config('app.tenant_id', p_tenant_id::text, true);
  PERFORM set_config('app.user_id', coalesce(p_user_id::text, ''), true);
  PERFORM set_config('app.request_id', coalesce(p_request_id, ''), true);
  PERFORM set_config('app.tenant_context', coalesce(p_signature, ''), true);
END
$$;
--> statement-breakpoint
ALTER FUNCTION app.enter_tenant(uuid, uuid, text, text) OWNER TO app_system;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app.enter_tenant(uuid, uuid, text, text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.enter_tenant(uuid, uuid, text, text)
  TO app_tenant, app_system, app_tenant_login, CURRENT_USER;
--> statement-breakpoint
-- Whoever could enter a tenant before (a login role of a deployment, say) still can.
DO $$
DECLARE
  v_grantee text;
BEGIN
  FOR v_grantee IN
    SELECT DISTINCT quote_ident(r.rolname)
      FROM pg_proc p
      CROSS JOIN LATERAL aclexplode(p.proacl) a
      JOIN pg_roles r ON r.oid = a.grantee
     WHERE p.oid = 'app.enter_tenant(uuid, uuid, text)'::regprocedure
       AND a.privilege_type = 'EXECUTE'
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION app.enter_tenant(uuid, uuid, text, text) TO %s',
                   v_grantee);
  END LOOP;
END $$;
--> statement-breakpoint
-- The unsigned entry would let a tenant transaction enter any tenant.
DROP FUNCTION app.enter_tenant(uuid, uuid, text);
--> statement-breakpoint
-- 4. Every policy calls the two functions once per statement: `(SELECT app.current_tenant_id())`
--    instead of `app.current_tenant_id()`, which a sequential scan would call (and verify) for
--    every row. Rewrites each policy of the public schema that calls one, whatever its table.
DO $$
DECLARE
  v_policy record;
  v_pattern constant text := 'app\.current_(tenant|user)_id\(\)';
  v_wrapped constant text := '(SELECT app.current_\1_id())';
  v_statement text;
BEGIN
  FOR v_policy IN
    SELECT tablename, policyname, qual, with_check
      FROM pg_policies
     WHERE schemaname = 'public'
       AND (qual ~ v_pattern OR with_check ~ v_pattern)
  LOOP
    v_statement := format('ALTER POLICY %I ON public.%I', v_policy.policyname, v_policy.tablename);
    IF v_policy.qual IS NOT NULL THEN
      v_statement := v_statement || format(' USING (%s)',
        regexp_replace(v_policy.qual, v_pattern, v_wrapped, 'g'));
    END IF;
    IF v_policy.with_check IS NOT NULL THEN
      v_statement := v_statement || format(' WITH CHECK (%s)',
        regexp_replace(v_policy.with_check, v_pattern, v_wrapped, 'g'));
    END IF;
    EXECUTE v_statement;
  END LOOP;
END $$;
