-- Tenant isolation in PostgreSQL (hand-written; see docs/tenancy.md).
--
-- Roles are cluster-wide, so they are created only when no other database created them first.
--   app_tenant: what tenant transactions run as. Not an owner, not a superuser, NOBYPASSRLS:
--               every row it sees passes the tenant policy.
--   app_system: what the few explicitly unscoped paths run as (login, tenant creation,
--               platform administration). BYPASSRLS, and only the table privileges granted here.
-- The login role of DATABASE_URL switches to one of them per transaction (set_config('role')).
DO $$
BEGIN
  CREATE ROLE app_tenant NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
--> statement-breakpoint
DO $$
BEGIN
  CREATE ROLE app_system NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
--> statement-breakpoint
-- The migrating role may switch to both (a no-op for a superuser). A separate runtime login
-- role needs the same grant: GRANT app_tenant, app_system TO <login role> (an INHERIT role, the default;
-- see docs/tenancy.md for a NOINHERIT one).
GRANT app_tenant, app_system TO CURRENT_USER;
--> statement-breakpoint
CREATE SCHEMA IF NOT EXISTS app;
--> statement-breakpoint
GRANT USAGE ON SCHEMA app TO app_tenant, app_system;
--> statement-breakpoint
-- The current tenant, from the transaction-local setting. After any set_config on a pooled
-- connection the setting reads '' rather than NULL, hence nullif. STABLE and SQL-language so the
-- planner inlines it and uses the (tenant_id, ...) indexes.
CREATE FUNCTION app.current_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
--> statement-breakpoint
CREATE FUNCTION app.current_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
--> statement-breakpoint
-- Enters a tenant for the rest of the transaction. Only an active tenant is entered: a missing
-- one raises SQLSTATE KT001 and a suspended one KT002, which also aborts whatever statement was
-- sent with it, so a token naming such a tenant reads and writes nothing. SECURITY DEFINER as
-- app_system, because the caller may not read the tenants table before a tenant is set.
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
GRANT EXECUTE ON FUNCTION app.enter_tenant(uuid, uuid, text) TO app_tenant, app_system, CURRENT_USER;
--> statement-breakpoint
-- updated_at follows every UPDATE, including raw SQL ones.
CREATE FUNCTION app.touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
--> statement-breakpoint
GRANT SELECT ON public.tenants TO app_system;
--> statement-breakpoint
GRANT INSERT, UPDATE, DELETE ON public.tenants TO app_system;
--> statement-breakpoint
-- A tenant may rename and delete itself; its plan and status are changed only by the platform.
GRANT SELECT, DELETE ON public.tenants TO app_tenant;
--> statement-breakpoint
GRANT UPDATE (name) ON public.tenants TO app_tenant;
--> statement-breakpoint
ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.tenants FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.tenants
  USING (id = app.current_tenant_id())
  WITH CHECK (id = app.current_tenant_id());
--> statement-breakpoint
CREATE TRIGGER tenants_touch_updated_at BEFORE UPDATE ON public.tenants
  FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON public.items TO app_tenant, app_system;
--> statement-breakpoint
ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.items FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.items
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
--> statement-breakpoint
CREATE TRIGGER items_touch_updated_at BEFORE UPDATE ON public.items
  FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
