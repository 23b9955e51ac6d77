CREATE TABLE "job_state_changes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"job_id" bigint NOT NULL,
	"from_state" text NOT NULL,
	"from_result" text NOT NULL,
	"to_state" text NOT NULL,
	"to_result" text NOT NULL,
	"by" text NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "slots" (
	"id" text PRIMARY KEY NOT NULL,
	"pool" text NOT NULL,
	"classes" text[] DEFAULT '{}'::text[] NOT NULL,
	"last_seen" timestamp with time zone DEFAULT now() NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "slot_id" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "sequence_index" integer;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "ancestors" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "incomplete_ancestors" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "follow_up" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "t_assigned" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "t_setup" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "job_state_changes" ADD CONSTRAINT "job_state_changes_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "job_state_changes_job_idx" ON "job_state_changes" USING btree ("job_id","id");--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_slot_id_slots_id_fk" FOREIGN KEY ("slot_id") REFERENCES "public"."slots"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_slot_sequence_idx" ON "jobs" USING btree ("slot_id","sequence_index") WHERE state in ('assigned', 'setup', 'running', 'uploading');--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_slot_busy_idx" ON "jobs" USING btree ("slot_id") WHERE state in ('setup', 'running', 'uploading');--> statement-breakpoint
CREATE INDEX "jobs_follow_up_idx" ON "jobs" USING btree ("id") WHERE follow_up;