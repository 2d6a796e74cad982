-- Invitations (hand-written; see docs/permissions.md): a tenant table under the tenant policy,
-- audited like the other membership tables. Acceptance looks an invitation up by its token
-- across tenants, as app_system.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.invitations TO app_tenant, app_system;
--> statement-breakpoint
ALTER TABLE public.invitations ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.invitations FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON public.invitations
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
--> statement-breakpoint
CREATE TRIGGER invitations_audit AFTER INSERT OR UPDATE OR DELETE ON public.invitations
  FOR EACH ROW EXECUTE FUNCTION app.audit_change('invitation', 'id', 'token_hash', 'created_at');
