DROP INDEX "events_merchant_idx";--> statement-breakpoint
DROP INDEX "events_type_idx";--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "xid" "xid8" DEFAULT pg_current_xact_id() NOT NULL;--> statement-breakpoint
CREATE INDEX "events_feed_idx" ON "events" USING btree ("merchant_id","xid","id");--> statement-breakpoint
CREATE INDEX "events_type_idx" ON "events" USING btree ("merchant_id","type","xid","id");