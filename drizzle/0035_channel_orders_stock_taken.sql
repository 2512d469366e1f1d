ALTER TABLE "channel_orders" ADD COLUMN "stock_taken_at" timestamp with time zone;
--> statement-breakpoint
-- Orders seen before: the marketplace is taken to have their units off its stock already (as they were handled then).
UPDATE "channel_orders" SET "stock_taken_at" = "remote_updated_at";
