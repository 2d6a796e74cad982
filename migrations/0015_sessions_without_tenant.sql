ALTER TABLE "sessions" DROP CONSTRAINT "sessions_current_tenant_id_tenants_id_fk";
--> statement-breakpoint
ALTER TABLE "sessions" ALTER COLUMN "current_tenant_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_current_tenant_id_tenants_id_fk" FOREIGN KEY ("current_tenant_id") REFERENCES "public"."tenants"("id") ON DELETE set null ON UPDATE no action;