DROP INDEX "recon_items_day_idx";--> statement-breakpoint
CREATE INDEX "recon_items_exceptions_idx" ON "recon_items" USING btree ("connection_id","business_date","outcome") WHERE "recon_items"."outcome" <> 'matched' or "recon_items"."manual";--> statement-breakpoint
CREATE INDEX "recon_items_date_brin" ON "recon_items" USING brin ("business_date") WITH (autosummarize=true);