DROP INDEX "campaign_deliveries_pending_idx";--> statement-breakpoint
CREATE INDEX "campaign_deliveries_run_idx" ON "campaign_deliveries" USING btree ("campaign_id","run_key","status");--> statement-breakpoint
CREATE INDEX "campaign_deliveries_pending_idx" ON "campaign_deliveries" USING btree ("campaign_id","run_key","id") WHERE "campaign_deliveries"."status" = 'pending';