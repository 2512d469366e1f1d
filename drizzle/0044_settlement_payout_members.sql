CREATE TABLE "settlement_payout_members" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "settlement_payout_members_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"statement_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"business_date" date NOT NULL,
	"payout_ref" text NOT NULL,
	"kind" text NOT NULL,
	"channel_txn_id" text,
	"channel_refund_id" text
);
--> statement-breakpoint
ALTER TABLE "settlement_payout_members" ADD CONSTRAINT "settlement_payout_members_statement_id_settlement_statements_id_fk" FOREIGN KEY ("statement_id") REFERENCES "public"."settlement_statements"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "settlement_payout_members_day_idx" ON "settlement_payout_members" USING btree ("connection_id","business_date");--> statement-breakpoint
CREATE INDEX "settlement_payout_members_statement_idx" ON "settlement_payout_members" USING btree ("statement_id");