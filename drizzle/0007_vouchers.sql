CREATE TABLE "voucher_accounts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"store_id" uuid,
	"key" text NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"dimensions" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "voucher_exports" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"voucher_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"status" text NOT NULL,
	"external_id" text,
	"external_number" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"reject_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"exported_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "voucher_lines" (
	"voucher_id" uuid NOT NULL,
	"line_no" integer NOT NULL,
	"merchant_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"group" jsonb NOT NULL,
	"account_key" text NOT NULL,
	"account_code" text NOT NULL,
	"account_name" text NOT NULL,
	"dimensions" jsonb NOT NULL,
	"summary" text NOT NULL,
	"debit" bigint NOT NULL,
	"credit" bigint NOT NULL,
	CONSTRAINT "voucher_lines_voucher_id_line_no_pk" PRIMARY KEY("voucher_id","line_no")
);
--> statement-breakpoint
CREATE TABLE "voucher_sources" (
	"voucher_id" uuid PRIMARY KEY NOT NULL,
	"sales" uuid[] NOT NULL,
	"refunds" uuid[] NOT NULL,
	"topups" uuid[] NOT NULL,
	"refunded_topups" uuid[] NOT NULL,
	"sessions" uuid[] NOT NULL,
	"recon_items" uuid[] NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vouchers" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"store_id" uuid,
	"business_date" date NOT NULL,
	"revision" integer NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"reference" text NOT NULL,
	"corrects_id" uuid,
	"corrected_by_id" uuid,
	"posting_date" date NOT NULL,
	"word" text NOT NULL,
	"currency" text NOT NULL,
	"narration" text NOT NULL,
	"total_debit" bigint NOT NULL,
	"total_credit" bigint NOT NULL,
	"rounding" bigint DEFAULT 0 NOT NULL,
	"problems" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"fingerprint" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"exported_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "voucher_accounts" ADD CONSTRAINT "voucher_accounts_store_id_stores_id_fk" FOREIGN KEY ("store_id") REFERENCES "public"."stores"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "voucher_exports" ADD CONSTRAINT "voucher_exports_voucher_id_vouchers_id_fk" FOREIGN KEY ("voucher_id") REFERENCES "public"."vouchers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "voucher_lines" ADD CONSTRAINT "voucher_lines_voucher_id_vouchers_id_fk" FOREIGN KEY ("voucher_id") REFERENCES "public"."vouchers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "voucher_sources" ADD CONSTRAINT "voucher_sources_voucher_id_vouchers_id_fk" FOREIGN KEY ("voucher_id") REFERENCES "public"."vouchers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vouchers" ADD CONSTRAINT "vouchers_store_id_stores_id_fk" FOREIGN KEY ("store_id") REFERENCES "public"."stores"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "voucher_accounts_key" ON "voucher_accounts" USING btree ("merchant_id",coalesce("store_id", '00000000-0000-0000-0000-000000000000'::uuid),"key");--> statement-breakpoint
CREATE UNIQUE INDEX "voucher_exports_key" ON "voucher_exports" USING btree ("voucher_id","connection_id");--> statement-breakpoint
CREATE INDEX "voucher_exports_merchant_idx" ON "voucher_exports" USING btree ("merchant_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "vouchers_reference_key" ON "vouchers" USING btree ("merchant_id","reference");--> statement-breakpoint
CREATE INDEX "vouchers_day_idx" ON "vouchers" USING btree ("merchant_id","business_date","store_id");--> statement-breakpoint
CREATE TRIGGER voucher_lines_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON voucher_lines
  FOR EACH STATEMENT EXECUTE FUNCTION tb_refuse_change();
