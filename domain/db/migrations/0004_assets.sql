ALTER TABLE "assets" ADD COLUMN "state" text;--> statement-breakpoint
ALTER TABLE "assets" ADD COLUMN "reason" text;--> statement-breakpoint
ALTER TABLE "assets" ADD COLUMN "source" text;--> statement-breakpoint
ALTER TABLE "assets" ADD COLUMN "bytes_imported" bigint;