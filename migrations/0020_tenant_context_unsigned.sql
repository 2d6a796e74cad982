-- The tenant context goes back to unsigned settings (hand-written; see docs/tenancy.md, "The
-- tenant setting can be rewritten"). Verifying a signature in every statement measured above
-- the read path's cost budget, so migration 0019's signature is taken out again; its login
-- groups, the revoked TEMPORARY and CREATE privileges and the once-per-statement policies stay.
--
-- The current tenant and user, read from the transaction-local settings. SQL-language, STABLE
-- and not SECURITY DEFINER, so the planner inlines them again.
CREATE OR REPLACE FUNCTION app.current_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
  AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
--> statement-breakpoint
ALTER FUNCTION app.current_tenant_id() OWNER TO CURRENT_USER;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION app.current_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
  AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
--> statement-breakpoint
ALTER FUNCTION app.current_user_id() OWNER TO CURRENT_USER;
--> statement-breakpoint
-- Enters a tenant for the rest of the transaction, as migration 0001 made it: a missing tenant
-- raises KT001 and a suspended one KT002, which also aborts whatever statement was sent with it.
CREATE FUNCTION app.enter_tenant(p_tenant_id uuid, p_user_id uuid, p_request_id text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
DECLARE
  v_status text;
BEGIN
  SELECT status INTO v_status FROM public.tenants WHERE id = p_tenant_id;
  IF v_status IS NULL THEN
    RAISE EXCEPTION 'tenant does not exist' USING ERRCODE = 'KT001';
  ELSIF v_status <> 'active' THEN
    RAISE EXCEPTION 'tenant is %', v_status USING ERRCODE = 'KT002';
  END IF;
  PERFORM set_config('app.tenant_id', p_tenant_id::text, true);
  PERFORM set_config('app.user_id', coalesce(p_user_id::text, ''), true);
  PERFORM set_config('app.request_id', coalesce(p_request_id, ''), true);
END
$$;
--> statement-breakpoint
ALTER FUNCTION app.enter_tenant(uuid, uuid, text) OWNER TO app_system;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app.enter_tenant(uuid, uuid, text) FROM PUBLIC;
--> statement-breakpoint
-- Whoever may enter a tenant with the signed entry (app_tenant, app_system, app_tenant_login, the
-- migrating role, and any login of a deployment) may with this one.
DO $$
DECLARE
  v_grantee text;
BEGIN
  FOR v_grantee IN
    SELECT DISTINCT quote_ident(r.rolname)
      FROM pg_proc p
      CROSS JOIN LATERAL aclexplode(p.proacl) a
      JOIN pg_roles r ON r.oid = a.grantee
     WHERE p.oid = 'app.enter_tenant(uuid, uuid, text, text)'::regprocedure
       AND a.privilege_type = 'EXECUTE'
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION app.enter_tenant(uuid, uuid, text) TO %s', v_grantee);
  END LOOP;
END $$;
--> statement-breakpoint
DROP FUNCTION app.enter_tenant(uuid, uuid, text, text);
--> statement-breakpoint
DROP FUNCTION app.tenant_context_valid(text, text, text, text);
--> statement-breakpoint
DROP TABLE app.tenant_context_keys;
