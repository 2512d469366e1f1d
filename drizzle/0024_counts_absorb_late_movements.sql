ALTER TABLE "stock_counts" ADD COLUMN "posted_movement_id" bigint;--> statement-breakpoint
ALTER TABLE "stock_counts" ADD COLUMN "uncounted" text;--> statement-breakpoint
ALTER TABLE "stock_levels" ADD COLUMN "counted_through" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "stock_levels" ADD COLUMN "counted_by" uuid;