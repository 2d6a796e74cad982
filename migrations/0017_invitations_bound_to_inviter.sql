-- Invitations live only as long as their sender's standing (hand-written; see
-- docs/permissions.md#invitations).
--
-- One open invitation per address and tenant: inviting an address again revokes the earlier
-- invitation (invitations.service.ts), and this unique index makes two at once impossible.
-- Open means neither accepted nor revoked, expired or not (an index cannot read the clock), so
-- creation revokes expired ones too. Duplicates made before are revoked first, the newest of
-- each address kept, as app_system, which sees every tenant (row-level security is forced).
SET ROLE app_system;
--> statement-breakpoint
UPDATE public.invitations AS earlier
SET revoked_at = now()
WHERE earlier.accepted_at IS NULL
  AND earlier.revoked_at IS NULL
  AND EXISTS (
    SELECT 1 FROM public.invitations AS newer
    WHERE newer.tenant_id = earlier.tenant_id
      AND lower(newer.email) = lower(earlier.email)
      AND newer.accepted_at IS NULL
      AND newer.revoked_at IS NULL
      AND newer.id > earlier.id);
--> statement-breakpoint
RESET ROLE;
--> statement-breakpoint
CREATE UNIQUE INDEX invitations_open_email_key ON public.invitations (tenant_id, lower(email))
  WHERE accepted_at IS NULL AND revoked_at IS NULL;
--> statement-breakpoint
CREATE INDEX invitations_open_inviter_idx ON public.invitations (tenant_id, invited_by)
  WHERE accepted_at IS NULL AND revoked_at IS NULL;
--> statement-breakpoint
-- A member who leaves the tenant (removed, suspended, their user deleted) or loses one of their
-- roles loses their pending invitations, in the transaction that makes the change, whichever
-- code path makes it. Taking any role away counts, even when another role keeps the same
-- permissions: acceptance checks the inviter's permissions again in any case. SECURITY INVOKER:
-- it changes only what the caller's role may (the tenant's own rows, under row-level security).
CREATE FUNCTION app.revoke_invitations_of_inviter() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, public
  AS $$
BEGIN
  UPDATE public.invitations
  SET revoked_at = now()
  WHERE tenant_id = OLD.tenant_id
    AND invited_by = OLD.user_id
    AND accepted_at IS NULL
    AND revoked_at IS NULL
    AND expires_at > now();
  RETURN NULL;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app.revoke_invitations_of_inviter() FROM PUBLIC;
--> statement-breakpoint
CREATE TRIGGER memberships_revoke_invitations AFTER DELETE ON public.memberships
  FOR EACH ROW EXECUTE FUNCTION app.revoke_invitations_of_inviter();
--> statement-breakpoint
CREATE TRIGGER memberships_suspended_revoke_invitations AFTER UPDATE OF status ON public.memberships
  FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status <> 'active')
  EXECUTE FUNCTION app.revoke_invitations_of_inviter();
--> statement-breakpoint
CREATE TRIGGER member_roles_revoke_invitations AFTER DELETE ON public.member_roles
  FOR EACH ROW EXECUTE FUNCTION app.revoke_invitations_of_inviter();
