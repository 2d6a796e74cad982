-- The outbox (hand-written part; see docs/jobs.md). Tenant transactions enqueue by inserting,
-- and can neither read nor change rows, so one tenant never sees another's jobs. The relay and
-- the cleanup crons run as app_system.
GRANT INSERT ON public.job_outbox TO app_tenant;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON public.job_outbox TO app_system;
