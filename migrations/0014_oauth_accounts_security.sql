-- Grants of the OAuth accounts table (hand-written; see docs/oauth.md). Like sessions, it is
-- read and written only by the sign-in paths and the signed-in user's own account routes, as
-- app_system; the tenant role has no privilege on it. Row-level security is forced with no
-- policy for any other role, so a future grant alone cannot expose it.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.oauth_accounts TO app_system;
--> statement-breakpoint
ALTER TABLE public.oauth_accounts ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE public.oauth_accounts FORCE ROW LEVEL SECURITY;
