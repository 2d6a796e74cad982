-- Roles, their permissions and members' roles (hand-written; see docs/permissions.md):
-- tenant tables under the tenant policy, the default roles for tenants that exist already,
-- members' roles from the role each membership recorded, and the session check extended to
-- return the member's grants in the same round trip.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.roles, public.role_permissions, public.member_roles
  TO app_tenant, app_system;
--> statement-breakpoint
ALTER TABLE public.roles ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.roles FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.roles
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
--> statement-breakpoint
CREATE TRIGGER roles_touch_updated_at BEFORE UPDATE ON public.roles
  FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
--> statement-breakpoint
ALTER TABLE public.role_permissions ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.role_permissions FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.role_permissions
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
--> statement-breakpoint
ALTER TABLE public.member_roles ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.member_roles FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.member_roles
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
--> statement-breakpoint
-- A time-ordered UUID (v7) for rows made in SQL, like the application's ids.
CREATE FUNCTION app.uuid_v7() RETURNS uuid
  LANGUAGE sql VOLATILE PARALLEL SAFE
  AS $$
    SELECT encode(
      set_bit(set_bit(
        overlay(uuid_send(gen_random_uuid())
          PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
          FROM 1 FOR 6),
        52, 1), 53, 1),
      'hex')::uuid
  $$;
--> statement-breakpoint
-- The backfill below reads tenants and memberships, whose forced row-level security hides
-- every row from a migrating role that is neither a superuser nor BYPASSRLS: it runs as
-- app_system, which may read them all (the migrating role was granted app_system in 0001).
SET ROLE app_system;
--> statement-breakpoint
-- The default roles of the tenants that exist now; new tenants get them from the application
-- (DEFAULT_ROLES in src/core/permissions/catalog.ts, of which this is a copy).
INSERT INTO public.roles (tenant_id, id, name, description, system)
SELECT t.id, app.uuid_v7(), d.name, d.description, true
FROM public.tenants t
CROSS JOIN (VALUES
  ('owner', 'Everything, including deleting the tenant'),
  ('admin', 'Everything except deleting the tenant'),
  ('member', 'Works with items and sees the members'),
  ('viewer', 'Reads items and sees the members')
) AS d(name, description);
--> statement-breakpoint
INSERT INTO public.role_permissions (tenant_id, role_id, permission)
SELECT r.tenant_id, r.id, g.permission
FROM public.roles r
JOIN (VALUES
  ('owner', '*'),
  ('admin', 'items:*'), ('admin', 'members:*'), ('admin', 'roles:*'),
  ('admin', 'tenants:update'), ('admin', 'audit:*'),
  ('member', 'items:read'), ('member', 'items:create'), ('member', 'items:update'),
  ('member', 'members:read'),
  ('viewer', 'items:read'), ('viewer', 'members:read')
) AS g(name, permission) ON g.name = r.name
WHERE r.system;
--> statement-breakpoint
INSERT INTO public.member_roles (tenant_id, user_id, role_id)
SELECT m.tenant_id, m.user_id, r.id
FROM public.memberships m
JOIN public.roles r ON r.tenant_id = m.tenant_id AND r.name = m.role;
--> statement-breakpoint
RESET ROLE;
--> statement-breakpoint
-- Whether an access token's session may act in its tenant (as app.session_is_live), and if so
-- with which grants: one row for a live session and active member, none otherwise.
CREATE FUNCTION app.session_access(p_session_id uuid, p_user_id uuid, p_tenant_id uuid)
  RETURNS TABLE (grants text[], is_platform_admin boolean)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
    SELECT
      coalesce(
        (SELECT array_agg(DISTINCT rp.permission)
         FROM public.member_roles mr
         JOIN public.role_permissions rp
           ON rp.tenant_id = mr.tenant_id AND rp.role_id = mr.role_id
         WHERE mr.tenant_id = p_tenant_id AND mr.user_id = p_user_id),
        '{}'::text[]),
      u.is_platform_admin
    FROM public.sessions s
    JOIN public.users u ON u.id = s.user_id
    JOIN public.memberships m ON m.tenant_id = p_tenant_id AND m.user_id = s.user_id
    WHERE s.id = p_session_id
      AND s.user_id = p_user_id
      AND s.revoked_at IS NULL
      AND s.expires_at > now()
      AND u.is_active
      AND m.status = 'active'
  $$;
--> statement-breakpoint
ALTER FUNCTION app.session_access(uuid, uuid, uuid) OWNER TO app_system;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app.session_access(uuid, uuid, uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.session_access(uuid, uuid, uuid) TO app_tenant, app_system, CURRENT_USER;
--> statement-breakpoint
DROP FUNCTION app.session_is_live(uuid, uuid, uuid);
