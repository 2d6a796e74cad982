-- A session may have no tenant (a user whose last tenant was deleted or left): its access
-- tokens carry no tenant, and the authentication check then asks only that the session is
-- live and its user active, with no grants. With a tenant, the check is unchanged: the user
-- must be an active member of it. CREATE OR REPLACE keeps the owner (app_system) and grants.
CREATE OR REPLACE FUNCTION app.session_access(p_session_id uuid, p_user_id uuid, p_tenant_id uuid)
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
    WHERE s.id = p_session_id
      AND s.user_id = p_user_id
      AND s.revoked_at IS NULL
      AND s.expires_at > now()
      AND u.is_active
      AND (p_tenant_id IS NULL OR EXISTS (
        SELECT 1 FROM public.memberships m
        WHERE m.tenant_id = p_tenant_id AND m.user_id = s.user_id AND m.status = 'active'))
  $$;
