ALTER TABLE "stored_value_ledger" ADD COLUMN "store_id" uuid;--> statement-breakpoint
ALTER TABLE "voucher_sources" ADD COLUMN "stored_value_adjustments" bigint[] DEFAULT '{}'::bigint[] NOT NULL;--> statement-breakpoint
ALTER TABLE "stored_value_ledger" ADD CONSTRAINT "stored_value_ledger_store_id_stores_id_fk" FOREIGN KEY ("store_id") REFERENCES "public"."stores"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "stored_value_ledger_adjust_idx" ON "stored_value_ledger" USING btree ("merchant_id","created_at") WHERE "stored_value_ledger"."kind" = 'adjust';