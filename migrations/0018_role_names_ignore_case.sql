-- Role names are unique in a tenant whatever their case (hand-written; see docs/permissions.md):
-- "Editors" and "editors" are one name, and a custom role can no longer be called "Owner" next
-- to the system role owner. Names that already collide that way are renamed first: the system
-- role, then the oldest, keeps its name; each other gets its id's last eight characters, as in
-- "Owner (9c1e4b7a)" (53 characters of the name at most, so 64 in all). The audit trigger
-- records each rename in the tenant's log.
-- RLS is forced on roles: the rename runs as app_system, which the migrating role was granted.
SET ROLE app_system;
--> statement-breakpoint
UPDATE public.roles AS r
SET name = left(r.name, 53) || ' (' || right(r.id::text, 8) || ')'
FROM (
  SELECT tenant_id, id,
    row_number() OVER (
      PARTITION BY tenant_id, lower(name) ORDER BY system DESC, created_at, id
    ) AS rank
  FROM public.roles
) AS ranked
WHERE ranked.tenant_id = r.tenant_id AND ranked.id = r.id AND ranked.rank > 1;
--> statement-breakpoint
RESET ROLE;
--> statement-breakpoint
-- Beside roles_tenant_id_name_key (exact names), which the lookups by name use. lower() folds
-- case by the database's ctype: every letter under a UTF-8 locale, ASCII only under "C".
CREATE UNIQUE INDEX roles_tenant_id_lower_name_key ON public.roles (tenant_id, lower(name));
