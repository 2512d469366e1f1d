CREATE TABLE "settlement_adjustments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"item_id" uuid NOT NULL,
	"store_id" uuid,
	"business_date" date NOT NULL,
	"currency" text NOT NULL,
	"tender_kind" text,
	"amount" bigint NOT NULL,
	"reversal" boolean DEFAULT false NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "voucher_sources" ADD COLUMN "settlement_adjustments" uuid[] DEFAULT '{}'::uuid[] NOT NULL;--> statement-breakpoint
CREATE INDEX "settlement_adjustments_day_idx" ON "settlement_adjustments" USING btree ("merchant_id","business_date");--> statement-breakpoint
CREATE INDEX "settlement_adjustments_item_idx" ON "settlement_adjustments" USING btree ("item_id");