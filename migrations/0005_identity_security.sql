-- Grants and row-level security of the identity tables (hand-written; see docs/tenancy.md and
-- docs/authentication.md).
--
-- memberships is a tenant table: the tenant role sees and changes the current tenant's rows.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.memberships TO app_tenant, app_system;
--> statement-breakpoint
ALTER TABLE public.memberships ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.memberships FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.memberships
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
--> statement-breakpoint
CREATE TRIGGER memberships_touch_updated_at BEFORE UPDATE ON public.memberships
  FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
--> statement-breakpoint
-- users is global. Inside a tenant, the tenant role sees the signed-in user and the members of
-- the current tenant (memberships is itself filtered to that tenant), never a password hash,
-- and may change only its own name. Everything else (sign-in, registration, password changes) runs as app_system.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.users TO app_system;
--> statement-breakpoint
-- Every column but the password hash.
GRANT SELECT (id, email, name, email_verified_at, is_active, is_platform_admin, last_tenant_id,
  created_at, updated_at) ON public.users TO app_tenant;
--> statement-breakpoint
GRANT UPDATE (name) ON public.users TO app_tenant;
--> statement-breakpoint
ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.users FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY users_visible ON public.users FOR SELECT
  USING (
    id = app.current_user_id()
    OR EXISTS (SELECT 1 FROM public.memberships m WHERE m.user_id = users.id)
  );
--> statement-breakpoint
CREATE POLICY users_update_self ON public.users FOR UPDATE
  USING (id = app.current_user_id())
  WITH CHECK (id = app.current_user_id());
--> statement-breakpoint
CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON public.users
  FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
--> statement-breakpoint
-- Sessions, refresh tokens and one-time tokens are read and written only by the sign-in paths,
-- as app_system; the tenant role has no privilege on them at all.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.sessions, public.refresh_tokens,
  public.one_time_tokens TO app_system;
--> statement-breakpoint
-- Whether an access token's session may act in its tenant: the session is neither revoked nor
-- expired, the user is active and an active member of the tenant. SECURITY DEFINER as
-- app_system, so the authentication check is one statement in one round trip, run as the login
-- role (which may read none of these tables itself).
CREATE FUNCTION app.session_is_live(p_session_id uuid, p_user_id uuid, p_tenant_id uuid)
  RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
    SELECT EXISTS (
      SELECT 1
      FROM public.sessions s
      JOIN public.users u ON u.id = s.user_id
      JOIN public.memberships m ON m.tenant_id = p_tenant_id AND m.user_id = s.user_id
      WHERE s.id = p_session_id
        AND s.user_id = p_user_id
        AND s.revoked_at IS NULL
        AND s.expires_at > now()
        AND u.is_active
        AND m.status = 'active'
    )
  $$;
--> statement-breakpoint
ALTER FUNCTION app.session_is_live(uuid, uuid, uuid) OWNER TO app_system;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app.session_is_live(uuid, uuid, uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.session_is_live(uuid, uuid, uuid) TO app_tenant, app_system, CURRENT_USER;
