CREATE TABLE "job_resources" (
	"job_id" bigint PRIMARY KEY NOT NULL,
	"namespace" text NOT NULL,
	"name" text NOT NULL,
	"uid" text NOT NULL,
	"origin" text NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "job_resources" ADD CONSTRAINT "job_resources_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "job_resources_uid_idx" ON "job_resources" USING btree ("uid");--> statement-breakpoint
CREATE INDEX "job_resources_name_idx" ON "job_resources" USING btree ("namespace","name");