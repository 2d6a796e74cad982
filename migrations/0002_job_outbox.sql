CREATE TABLE "job_outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"job_name" text NOT NULL,
	"envelope" jsonb NOT NULL,
	"job_key" text,
	"delay_ms" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "job_outbox_unsent_idx" ON "job_outbox" USING btree ("id") WHERE "job_outbox"."sent_at" is null;--> statement-breakpoint
CREATE INDEX "job_outbox_sent_at_idx" ON "job_outbox" USING btree ("sent_at");