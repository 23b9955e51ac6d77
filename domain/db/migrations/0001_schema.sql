CREATE TABLE "access_tokens" (
	"id" serial PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"name" text NOT NULL,
	"user_id" integer NOT NULL,
	"t_expiration" timestamp with time zone,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "access_tokens_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" serial PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"secret" text NOT NULL,
	"user_id" integer NOT NULL,
	"t_expiration" timestamp with time zone,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "api_keys_key_unique" UNIQUE("key")
);
--> statement-breakpoint
CREATE TABLE "assets" (
	"id" serial PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"name" text NOT NULL,
	"size" bigint,
	"checksum" text,
	"fixed" boolean DEFAULT false NOT NULL,
	"last_use_job_id" bigint,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" integer,
	"event" text NOT NULL,
	"event_data" jsonb,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "blobs" (
	"hash" text PRIMARY KEY NOT NULL,
	"size" bigint NOT NULL,
	"content_type" text DEFAULT 'application/octet-stream' NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "comments" (
	"id" serial PRIMARY KEY NOT NULL,
	"job_id" bigint,
	"group_id" integer,
	"parent_group_id" integer,
	"user_id" integer NOT NULL,
	"text" text NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "job_artefacts" (
	"job_id" bigint NOT NULL,
	"name" text NOT NULL,
	"hash" text NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_artefacts_job_id_name_pk" PRIMARY KEY("job_id","name")
);
--> statement-breakpoint
CREATE TABLE "job_dependencies" (
	"child_job_id" bigint NOT NULL,
	"parent_job_id" bigint NOT NULL,
	"dependency" text NOT NULL,
	CONSTRAINT "job_dependencies_child_job_id_parent_job_id_dependency_pk" PRIMARY KEY("child_job_id","parent_job_id","dependency")
);
--> statement-breakpoint
CREATE TABLE "job_group_parents" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"sort_order" integer,
	"default_priority" integer,
	"description" text,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_group_parents_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "job_groups" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"parent_id" integer,
	"sort_order" integer,
	"default_priority" integer DEFAULT 50 NOT NULL,
	"description" text,
	"template" text,
	"keep_logs_in_days" integer DEFAULT 30 NOT NULL,
	"keep_results_in_days" integer DEFAULT 365 NOT NULL,
	"size_limit_gb" integer,
	"build_version_sort" boolean DEFAULT true NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_groups_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "job_module_steps" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"module_id" bigint NOT NULL,
	"num" integer NOT NULL,
	"kind" text NOT NULL,
	"result" text DEFAULT 'none' NOT NULL,
	"title" text,
	"text" text,
	"needle" text,
	"similarity" real,
	"screenshot_hash" text,
	"details" jsonb
);
--> statement-breakpoint
CREATE TABLE "job_modules" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"job_id" bigint NOT NULL,
	"name" text NOT NULL,
	"category" text DEFAULT '' NOT NULL,
	"script" text DEFAULT '' NOT NULL,
	"result" text DEFAULT 'none' NOT NULL,
	"sort_order" integer DEFAULT 0 NOT NULL,
	"milestone" boolean DEFAULT false NOT NULL,
	"important" boolean DEFAULT false NOT NULL,
	"fatal" boolean DEFAULT false NOT NULL,
	"always_rollback" boolean DEFAULT false NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "job_templates" (
	"id" serial PRIMARY KEY NOT NULL,
	"product_id" integer NOT NULL,
	"machine_id" integer NOT NULL,
	"test_suite_id" integer NOT NULL,
	"group_id" integer NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"description" text,
	"prio" integer,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"state" text DEFAULT 'scheduled' NOT NULL,
	"result" text DEFAULT 'none' NOT NULL,
	"reason" text,
	"priority" integer DEFAULT 50 NOT NULL,
	"clone_id" bigint,
	"group_id" integer,
	"scheduled_product_id" integer,
	"test" text NOT NULL,
	"distri" text DEFAULT '' NOT NULL,
	"version" text DEFAULT '' NOT NULL,
	"flavor" text DEFAULT '' NOT NULL,
	"arch" text DEFAULT '' NOT NULL,
	"build" text DEFAULT '' NOT NULL,
	"machine" text DEFAULT '' NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"assigned_worker_id" integer,
	"token_hash" text,
	"blocked_by_id" bigint,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_started" timestamp with time zone,
	"t_finished" timestamp with time zone,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "jobs_assets" (
	"job_id" bigint NOT NULL,
	"asset_id" integer NOT NULL,
	"created_by" boolean DEFAULT false NOT NULL,
	CONSTRAINT "jobs_assets_job_id_asset_id_pk" PRIMARY KEY("job_id","asset_id")
);
--> statement-breakpoint
CREATE TABLE "machines" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"backend" text DEFAULT 'qemu' NOT NULL,
	"description" text,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "machines_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "products" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"distri" text NOT NULL,
	"version" text DEFAULT '*' NOT NULL,
	"flavor" text NOT NULL,
	"arch" text NOT NULL,
	"description" text,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "scheduled_products" (
	"id" serial PRIMARY KEY NOT NULL,
	"distri" text DEFAULT '' NOT NULL,
	"version" text DEFAULT '' NOT NULL,
	"flavor" text DEFAULT '' NOT NULL,
	"arch" text DEFAULT '' NOT NULL,
	"build" text DEFAULT '' NOT NULL,
	"iso" text DEFAULT '' NOT NULL,
	"status" text DEFAULT 'added' NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"results" jsonb,
	"user_id" integer,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "screenshot_links" (
	"job_id" bigint NOT NULL,
	"hash" text NOT NULL,
	CONSTRAINT "screenshot_links_job_id_hash_pk" PRIMARY KEY("job_id","hash")
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" integer NOT NULL,
	"csrf_token" text NOT NULL,
	"t_expiration" timestamp with time zone NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "test_suites" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "test_suites_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" serial PRIMARY KEY NOT NULL,
	"username" text NOT NULL,
	"fullname" text,
	"email" text,
	"role" text DEFAULT 'viewer' NOT NULL,
	"oidc_subject" text,
	"password_hash" text,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_username_unique" UNIQUE("username"),
	CONSTRAINT "users_oidc_subject_unique" UNIQUE("oidc_subject")
);
--> statement-breakpoint
CREATE TABLE "workers" (
	"id" serial PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"instance" integer NOT NULL,
	"properties" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"job_id" bigint,
	"t_seen" timestamp with time zone,
	"t_created" timestamp with time zone DEFAULT now() NOT NULL,
	"t_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "access_tokens" ADD CONSTRAINT "access_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "comments" ADD CONSTRAINT "comments_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "comments" ADD CONSTRAINT "comments_group_id_job_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."job_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "comments" ADD CONSTRAINT "comments_parent_group_id_job_group_parents_id_fk" FOREIGN KEY ("parent_group_id") REFERENCES "public"."job_group_parents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "comments" ADD CONSTRAINT "comments_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_artefacts" ADD CONSTRAINT "job_artefacts_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_artefacts" ADD CONSTRAINT "job_artefacts_hash_blobs_hash_fk" FOREIGN KEY ("hash") REFERENCES "public"."blobs"("hash") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_dependencies" ADD CONSTRAINT "job_dependencies_child_job_id_jobs_id_fk" FOREIGN KEY ("child_job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_dependencies" ADD CONSTRAINT "job_dependencies_parent_job_id_jobs_id_fk" FOREIGN KEY ("parent_job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_groups" ADD CONSTRAINT "job_groups_parent_id_job_group_parents_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."job_group_parents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_module_steps" ADD CONSTRAINT "job_module_steps_module_id_job_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."job_modules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_modules" ADD CONSTRAINT "job_modules_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_templates" ADD CONSTRAINT "job_templates_product_id_products_id_fk" FOREIGN KEY ("product_id") REFERENCES "public"."products"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_templates" ADD CONSTRAINT "job_templates_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_templates" ADD CONSTRAINT "job_templates_test_suite_id_test_suites_id_fk" FOREIGN KEY ("test_suite_id") REFERENCES "public"."test_suites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_templates" ADD CONSTRAINT "job_templates_group_id_job_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."job_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_group_id_job_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."job_groups"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_scheduled_product_id_scheduled_products_id_fk" FOREIGN KEY ("scheduled_product_id") REFERENCES "public"."scheduled_products"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_assigned_worker_id_workers_id_fk" FOREIGN KEY ("assigned_worker_id") REFERENCES "public"."workers"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs_assets" ADD CONSTRAINT "jobs_assets_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs_assets" ADD CONSTRAINT "jobs_assets_asset_id_assets_id_fk" FOREIGN KEY ("asset_id") REFERENCES "public"."assets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scheduled_products" ADD CONSTRAINT "scheduled_products_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "screenshot_links" ADD CONSTRAINT "screenshot_links_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "screenshot_links" ADD CONSTRAINT "screenshot_links_hash_blobs_hash_fk" FOREIGN KEY ("hash") REFERENCES "public"."blobs"("hash") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "access_tokens_user_idx" ON "access_tokens" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "api_keys_user_idx" ON "api_keys" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "assets_type_name_idx" ON "assets" USING btree ("type","name");--> statement-breakpoint
CREATE INDEX "audit_events_created_idx" ON "audit_events" USING btree ("t_created");--> statement-breakpoint
CREATE INDEX "audit_events_event_idx" ON "audit_events" USING btree ("event","id");--> statement-breakpoint
CREATE INDEX "comments_job_idx" ON "comments" USING btree ("job_id");--> statement-breakpoint
CREATE INDEX "comments_group_idx" ON "comments" USING btree ("group_id");--> statement-breakpoint
CREATE INDEX "job_artefacts_hash_idx" ON "job_artefacts" USING btree ("hash");--> statement-breakpoint
CREATE INDEX "job_dependencies_parent_idx" ON "job_dependencies" USING btree ("parent_job_id");--> statement-breakpoint
CREATE INDEX "job_groups_parent_idx" ON "job_groups" USING btree ("parent_id");--> statement-breakpoint
CREATE UNIQUE INDEX "job_module_steps_module_num_idx" ON "job_module_steps" USING btree ("module_id","num");--> statement-breakpoint
CREATE UNIQUE INDEX "job_modules_job_name_idx" ON "job_modules" USING btree ("job_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "job_templates_unique_idx" ON "job_templates" USING btree ("product_id","machine_id","test_suite_id","name");--> statement-breakpoint
CREATE INDEX "job_templates_group_idx" ON "job_templates" USING btree ("group_id");--> statement-breakpoint
CREATE INDEX "jobs_state_priority_idx" ON "jobs" USING btree ("state","priority","id");--> statement-breakpoint
CREATE INDEX "jobs_result_id_idx" ON "jobs" USING btree ("result","id");--> statement-breakpoint
CREATE INDEX "jobs_group_build_idx" ON "jobs" USING btree ("group_id","build","id");--> statement-breakpoint
CREATE INDEX "jobs_dvfa_build_idx" ON "jobs" USING btree ("distri","version","flavor","arch","build");--> statement-breakpoint
CREATE INDEX "jobs_scenario_idx" ON "jobs" USING btree ("distri","version","flavor","arch","test","machine","id");--> statement-breakpoint
CREATE INDEX "jobs_test_idx" ON "jobs" USING btree ("test","id");--> statement-breakpoint
CREATE INDEX "jobs_build_idx" ON "jobs" USING btree ("build","id");--> statement-breakpoint
CREATE INDEX "jobs_clone_idx" ON "jobs" USING btree ("clone_id") WHERE clone_id is not null;--> statement-breakpoint
CREATE INDEX "jobs_scheduled_product_idx" ON "jobs" USING btree ("scheduled_product_id");--> statement-breakpoint
CREATE INDEX "jobs_settings_idx" ON "jobs" USING gin ("settings" jsonb_path_ops);--> statement-breakpoint
CREATE INDEX "jobs_assets_asset_idx" ON "jobs_assets" USING btree ("asset_id");--> statement-breakpoint
CREATE UNIQUE INDEX "products_dvfa_idx" ON "products" USING btree ("distri","version","flavor","arch");--> statement-breakpoint
CREATE INDEX "scheduled_products_dvfa_idx" ON "scheduled_products" USING btree ("distri","version","flavor","arch","id");--> statement-breakpoint
CREATE INDEX "screenshot_links_hash_idx" ON "screenshot_links" USING btree ("hash");--> statement-breakpoint
CREATE INDEX "sessions_user_idx" ON "sessions" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "workers_host_instance_idx" ON "workers" USING btree ("host","instance");