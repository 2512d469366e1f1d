CREATE TABLE "recon_item_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "recon_item_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"item_id" uuid NOT NULL,
	"action" text NOT NULL,
	"actor_id" uuid,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "recon_items" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"business_date" date NOT NULL,
	"run_id" uuid NOT NULL,
	"outcome" text NOT NULL,
	"state" text NOT NULL,
	"manual" boolean DEFAULT false NOT NULL,
	"pos_kind" text,
	"pos_id" uuid,
	"pos_ref" text,
	"line_id" bigint,
	"store_id" uuid,
	"currency" text NOT NULL,
	"pos_amount" bigint,
	"channel_amount" bigint,
	"difference" bigint DEFAULT 0 NOT NULL,
	"expected_fee_milli" bigint,
	"channel_fee_milli" bigint,
	"carried_days" integer DEFAULT 0 NOT NULL,
	"resolution" text,
	"resolution_note" text,
	"resolved_by" uuid,
	"resolved_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "recon_runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"business_date" date NOT NULL,
	"status" text NOT NULL,
	"statement_ids" uuid[] NOT NULL,
	"counts" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"totals" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "settlement_lines" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "settlement_lines_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"statement_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"business_date" date NOT NULL,
	"line_no" integer NOT NULL,
	"kind" text NOT NULL,
	"our_ref" text,
	"our_payment_ref" text,
	"channel_txn_id" text,
	"channel_refund_id" text,
	"currency" text NOT NULL,
	"amount" bigint NOT NULL,
	"fee_milli" bigint DEFAULT 0 NOT NULL,
	"status" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"store_ref" text,
	"terminal_ref" text,
	"rrn" text,
	"voucher_no" text,
	"payout_ref" text,
	"raw" jsonb
);
--> statement-breakpoint
CREATE TABLE "settlement_statements" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"format" text NOT NULL,
	"business_date" date NOT NULL,
	"source" text NOT NULL,
	"file_name" text,
	"file_sha256" text NOT NULL,
	"size_bytes" bigint NOT NULL,
	"status" text NOT NULL,
	"reject_reason" text,
	"line_count" integer DEFAULT 0 NOT NULL,
	"control_totals" jsonb,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "statement_files" (
	"statement_id" uuid PRIMARY KEY NOT NULL,
	"content_type" text NOT NULL,
	"content" "bytea" NOT NULL
);
--> statement-breakpoint
ALTER TABLE "statement_files" ADD CONSTRAINT "statement_files_statement_id_settlement_statements_id_fk" FOREIGN KEY ("statement_id") REFERENCES "public"."settlement_statements"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "recon_item_events_item_idx" ON "recon_item_events" USING btree ("item_id","id");--> statement-breakpoint
CREATE INDEX "recon_items_day_idx" ON "recon_items" USING btree ("connection_id","business_date","outcome");--> statement-breakpoint
CREATE INDEX "recon_items_open_idx" ON "recon_items" USING btree ("merchant_id","state") WHERE "recon_items"."state" = 'open';--> statement-breakpoint
CREATE UNIQUE INDEX "recon_items_line_key" ON "recon_items" USING btree ("line_id") WHERE "recon_items"."line_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "recon_items_pos_key" ON "recon_items" USING btree ("pos_kind","pos_id") WHERE "recon_items"."pos_id" is not null and "recon_items"."outcome" <> 'duplicate';--> statement-breakpoint
CREATE INDEX "recon_runs_day_idx" ON "recon_runs" USING btree ("connection_id","business_date","started_at");--> statement-breakpoint
CREATE INDEX "settlement_lines_statement_idx" ON "settlement_lines" USING btree ("statement_id","line_no");--> statement-breakpoint
CREATE INDEX "settlement_lines_ref_idx" ON "settlement_lines" USING btree ("merchant_id","our_ref");--> statement-breakpoint
CREATE INDEX "settlement_lines_txn_idx" ON "settlement_lines" USING btree ("merchant_id","channel_txn_id");--> statement-breakpoint
CREATE INDEX "settlement_statements_day_idx" ON "settlement_statements" USING btree ("connection_id","business_date");--> statement-breakpoint
CREATE UNIQUE INDEX "settlement_statements_file_key" ON "settlement_statements" USING btree ("connection_id","business_date","format","file_sha256");--> statement-breakpoint
CREATE TRIGGER recon_item_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON recon_item_events
  FOR EACH STATEMENT EXECUTE FUNCTION tb_refuse_change();
