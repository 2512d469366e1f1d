CREATE TABLE "campaign_receipts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "campaign_receipts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"vendor_message_id" text NOT NULL,
	"status" text NOT NULL,
	"vendor_code" text,
	"at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "campaign_receipts_message_idx" ON "campaign_receipts" USING btree ("merchant_id","vendor_message_id");--> statement-breakpoint
CREATE INDEX "campaign_receipts_received_idx" ON "campaign_receipts" USING btree ("created_at");