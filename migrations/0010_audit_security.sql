-- The audit log (hand-written; see docs/audit.md): append-only for the application, and
-- written by a trigger on every audited table, so that changes made by any path, raw SQL
-- included, are recorded with the transaction's user and request id.
-- The tenant role only reads: rows are written by the trigger and by audit.record, both as
-- app_system, so a tenant transaction cannot forge or alter its log.
GRANT SELECT ON public.audit_logs TO app_tenant;
--> statement-breakpoint
GRANT SELECT, INSERT ON public.audit_logs TO app_system;
--> statement-breakpoint
ALTER TABLE public.audit_logs ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.audit_logs FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.audit_logs
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
--> statement-breakpoint
-- Arguments: the resource type (item, role, ...), the column naming the resource, then the
-- columns left out of the recorded changes (timestamps; never secrets, which audited tables
-- do not hold). One row per changed row; an UPDATE that changes nothing recorded is skipped.
-- Rows of a tenant being deleted are not recorded: the log goes with the tenant.
CREATE FUNCTION app.audit_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
DECLARE
  v_old jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
  v_new jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
  v_row jsonb := coalesce(v_new, v_old);
  v_skip text[] := TG_ARGV[2:];
  v_changes jsonb := '{}'::jsonb;
  v_key text;
  v_tenant uuid;
BEGIN
  FOR v_key IN SELECT jsonb_object_keys(v_row) LOOP
    CONTINUE WHEN v_key = 'tenant_id' OR v_key = ANY (v_skip);
    IF TG_OP <> 'UPDATE' OR (v_old -> v_key) IS DISTINCT FROM (v_new -> v_key) THEN
      v_changes := v_changes || jsonb_build_object(
        v_key, jsonb_build_object('old', v_old -> v_key, 'new', v_new -> v_key));
    END IF;
  END LOOP;
  IF TG_OP = 'UPDATE' AND v_changes = '{}'::jsonb THEN
    RETURN NULL;
  END IF;
  v_tenant := CASE WHEN TG_TABLE_NAME = 'tenants' THEN (v_row ->> 'id')::uuid
                   ELSE (v_row ->> 'tenant_id')::uuid END;
  IF NOT EXISTS (SELECT 1 FROM public.tenants WHERE id = v_tenant) THEN
    RETURN NULL;
  END IF;
  INSERT INTO public.audit_logs
    (tenant_id, action, resource_type, resource_id, actor_id, changes, request_id)
  VALUES (
    v_tenant,
    TG_ARGV[0] || '.' || CASE TG_OP WHEN 'INSERT' THEN 'created'
                                    WHEN 'UPDATE' THEN 'updated'
                                    ELSE 'deleted' END,
    TG_ARGV[0],
    v_row ->> TG_ARGV[1],
    nullif(current_setting('app.user_id', true), '')::uuid,
    v_changes,
    nullif(current_setting('app.request_id', true), ''));
  RETURN NULL;
END
$$;
--> statement-breakpoint
ALTER FUNCTION app.audit_change() OWNER TO app_system;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app.audit_change() FROM PUBLIC;
--> statement-breakpoint
CREATE TRIGGER items_audit AFTER INSERT OR UPDATE OR DELETE ON public.items
  FOR EACH ROW EXECUTE FUNCTION app.audit_change('item', 'id', 'created_at', 'updated_at');
--> statement-breakpoint
CREATE TRIGGER tenants_audit AFTER UPDATE ON public.tenants
  FOR EACH ROW EXECUTE FUNCTION app.audit_change('tenant', 'id', 'created_at', 'updated_at');
--> statement-breakpoint
CREATE TRIGGER roles_audit AFTER INSERT OR UPDATE OR DELETE ON public.roles
  FOR EACH ROW EXECUTE FUNCTION app.audit_change('role', 'id', 'created_at', 'updated_at');
--> statement-breakpoint
CREATE TRIGGER role_permissions_audit AFTER INSERT OR DELETE ON public.role_permissions
  FOR EACH ROW EXECUTE FUNCTION app.audit_change('role_permission', 'role_id');
--> statement-breakpoint
CREATE TRIGGER memberships_audit AFTER INSERT OR UPDATE OR DELETE ON public.memberships
  FOR EACH ROW EXECUTE FUNCTION app.audit_change('membership', 'user_id', 'created_at', 'updated_at');
--> statement-breakpoint
CREATE TRIGGER member_roles_audit AFTER INSERT OR DELETE ON public.member_roles
  FOR EACH ROW EXECUTE FUNCTION app.audit_change('member_role', 'user_id');
