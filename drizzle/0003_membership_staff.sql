CREATE TABLE "approval_requests" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"action" text NOT NULL,
	"payload" jsonb NOT NULL,
	"summary" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"requested_by" uuid,
	"requested_by_type" text NOT NULL,
	"decided_by" uuid,
	"decided_at" timestamp with time zone,
	"decision_note" text,
	"result" jsonb,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pin_throttle" (
	"register_id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"locked_until" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "role_limits" (
	"merchant_id" uuid NOT NULL,
	"role" text NOT NULL,
	"discount_limit_bp" integer NOT NULL,
	"updated_by" uuid,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "role_limits_merchant_id_role_pk" PRIMARY KEY("merchant_id","role"),
	CONSTRAINT "role_limits_check" CHECK ("role_limits"."discount_limit_bp" between 0 and 10000)
);
--> statement-breakpoint
CREATE TABLE "role_permissions" (
	"merchant_id" uuid NOT NULL,
	"role" text NOT NULL,
	"permission" text NOT NULL,
	"allowed" boolean NOT NULL,
	"updated_by" uuid,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "role_permissions_merchant_id_role_permission_pk" PRIMARY KEY("merchant_id","role","permission")
);
--> statement-breakpoint
CREATE TABLE "time_entries" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "time_entries_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"register_id" uuid,
	"kind" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "birthday_gifts" (
	"merchant_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"year" integer NOT NULL,
	"kind" text NOT NULL,
	"coupon_id" uuid,
	"points" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "coupon_templates" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"amount" bigint,
	"percent_bp" integer,
	"free_variant_id" uuid,
	"free_quantity" integer,
	"min_spend" bigint DEFAULT 0 NOT NULL,
	"product_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"variant_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"category_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"valid_from" timestamp with time zone,
	"valid_to" timestamp with time zone,
	"valid_days" integer,
	"per_member_limit" integer,
	"restore_on_refund" boolean DEFAULT true NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "coupons" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"template_id" uuid NOT NULL,
	"code" text NOT NULL,
	"member_id" uuid,
	"status" text DEFAULT 'issued' NOT NULL,
	"valid_from" timestamp with time zone NOT NULL,
	"valid_to" timestamp with time zone,
	"source" text NOT NULL,
	"redeemed_sale_id" uuid,
	"redeemed_at" timestamp with time zone,
	"void_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "member_consents" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "member_consents_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"granted" boolean NOT NULL,
	"source" text NOT NULL,
	"evidence" text,
	"actor_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "members" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"phone" text NOT NULL,
	"card_no" text NOT NULL,
	"name" text,
	"email" text,
	"birth_month" smallint,
	"birth_day" smallint,
	"birth_year" smallint,
	"store_id" uuid,
	"tags" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"tier_id" uuid,
	"consent_sms" boolean DEFAULT false NOT NULL,
	"consent_email" boolean DEFAULT false NOT NULL,
	"consent_wechat" boolean DEFAULT false NOT NULL,
	"wechat_open_id" text,
	"points_balance" bigint DEFAULT 0 NOT NULL,
	"points_debt" bigint DEFAULT 0 NOT NULL,
	"stored_principal" bigint DEFAULT 0 NOT NULL,
	"stored_bonus" bigint DEFAULT 0 NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"merged_into" uuid,
	"last_purchase_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "members_balances_check" CHECK ("members"."points_balance" >= 0 and "members"."points_debt" >= 0 and "members"."stored_principal" >= 0 and "members"."stored_bonus" >= 0)
);
--> statement-breakpoint
CREATE TABLE "points_ledger" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "points_ledger_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"delta" bigint NOT NULL,
	"balance_after" bigint NOT NULL,
	"sale_id" uuid,
	"refund_id" uuid,
	"expires_at" date,
	"note" text,
	"actor_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "points_lots" (
	"ledger_id" bigint PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"remaining" bigint NOT NULL,
	"expires_at" date,
	CONSTRAINT "points_lots_remaining_check" CHECK ("points_lots"."remaining" >= 0)
);
--> statement-breakpoint
CREATE TABLE "stored_value_ledger" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "stored_value_ledger_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"principal_delta" bigint NOT NULL,
	"bonus_delta" bigint NOT NULL,
	"principal_after" bigint NOT NULL,
	"bonus_after" bigint NOT NULL,
	"sale_id" uuid,
	"refund_id" uuid,
	"topup_id" uuid,
	"note" text,
	"actor_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stored_value_topups" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"store_id" uuid NOT NULL,
	"register_id" uuid NOT NULL,
	"session_id" uuid,
	"receipt_no" text NOT NULL,
	"business_date" date NOT NULL,
	"principal" bigint NOT NULL,
	"bonus" bigint NOT NULL,
	"status" text DEFAULT 'completed' NOT NULL,
	"refunded_at" timestamp with time zone,
	"refund_reason" text,
	"actor_id" uuid,
	"occurred_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tier_history" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "tier_history_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"from_tier_id" uuid,
	"to_tier_id" uuid,
	"rolling_spend" bigint NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tiers" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"rank" integer NOT NULL,
	"min_spend" bigint DEFAULT 0 NOT NULL,
	"discount_bp" integer DEFAULT 0 NOT NULL,
	"points_multiplier_bp" integer DEFAULT 10000 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tiers_discount_check" CHECK ("tiers"."discount_bp" between 0 and 10000 and "tiers"."points_multiplier_bp" >= 0 and "tiers"."min_spend" >= 0)
);
--> statement-breakpoint
CREATE TABLE "topup_bonus_rules" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"threshold" bigint NOT NULL,
	"bonus" bigint NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "topup_bonus_rules_check" CHECK ("topup_bonus_rules"."threshold" > 0 and "topup_bonus_rules"."bonus" >= 0)
);
--> statement-breakpoint
CREATE TABLE "topup_tenders" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"topup_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"amount" bigint NOT NULL,
	"received" bigint,
	"payment_no" text,
	"channel_txn_id" text,
	"reference" jsonb,
	"refund_no" text
);
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "pin_hmac" text;--> statement-breakpoint
ALTER TABLE "refund_tenders" ADD COLUMN "stored_principal" bigint;--> statement-breakpoint
ALTER TABLE "refund_tenders" ADD COLUMN "stored_bonus" bigint;--> statement-breakpoint
ALTER TABLE "sale_tenders" ADD COLUMN "stored_principal" bigint;--> statement-breakpoint
ALTER TABLE "sale_tenders" ADD COLUMN "stored_bonus" bigint;--> statement-breakpoint
ALTER TABLE "sales" ADD COLUMN "points_earned" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sales" ADD COLUMN "points_redeemed" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sales" ADD COLUMN "approver_id" uuid;--> statement-breakpoint
ALTER TABLE "approval_requests" ADD CONSTRAINT "approval_requests_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "role_limits" ADD CONSTRAINT "role_limits_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "role_permissions" ADD CONSTRAINT "role_permissions_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "time_entries" ADD CONSTRAINT "time_entries_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "time_entries" ADD CONSTRAINT "time_entries_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "birthday_gifts" ADD CONSTRAINT "birthday_gifts_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "coupon_templates" ADD CONSTRAINT "coupon_templates_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "coupons" ADD CONSTRAINT "coupons_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "coupons" ADD CONSTRAINT "coupons_template_id_coupon_templates_id_fk" FOREIGN KEY ("template_id") REFERENCES "public"."coupon_templates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "coupons" ADD CONSTRAINT "coupons_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_consents" ADD CONSTRAINT "member_consents_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_store_id_stores_id_fk" FOREIGN KEY ("store_id") REFERENCES "public"."stores"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_tier_id_tiers_id_fk" FOREIGN KEY ("tier_id") REFERENCES "public"."tiers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "points_ledger" ADD CONSTRAINT "points_ledger_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "points_lots" ADD CONSTRAINT "points_lots_ledger_id_points_ledger_id_fk" FOREIGN KEY ("ledger_id") REFERENCES "public"."points_ledger"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stored_value_ledger" ADD CONSTRAINT "stored_value_ledger_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stored_value_topups" ADD CONSTRAINT "stored_value_topups_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stored_value_topups" ADD CONSTRAINT "stored_value_topups_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stored_value_topups" ADD CONSTRAINT "stored_value_topups_store_id_stores_id_fk" FOREIGN KEY ("store_id") REFERENCES "public"."stores"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stored_value_topups" ADD CONSTRAINT "stored_value_topups_register_id_registers_id_fk" FOREIGN KEY ("register_id") REFERENCES "public"."registers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stored_value_topups" ADD CONSTRAINT "stored_value_topups_session_id_cash_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."cash_sessions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tier_history" ADD CONSTRAINT "tier_history_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tiers" ADD CONSTRAINT "tiers_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "topup_bonus_rules" ADD CONSTRAINT "topup_bonus_rules_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "topup_tenders" ADD CONSTRAINT "topup_tenders_topup_id_stored_value_topups_id_fk" FOREIGN KEY ("topup_id") REFERENCES "public"."stored_value_topups"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "approval_requests_merchant_idx" ON "approval_requests" USING btree ("merchant_id","status","created_at");--> statement-breakpoint
CREATE INDEX "time_entries_user_idx" ON "time_entries" USING btree ("merchant_id","user_id","at");--> statement-breakpoint
CREATE UNIQUE INDEX "birthday_gifts_key" ON "birthday_gifts" USING btree ("member_id","year");--> statement-breakpoint
CREATE INDEX "coupon_templates_merchant_idx" ON "coupon_templates" USING btree ("merchant_id");--> statement-breakpoint
CREATE UNIQUE INDEX "coupons_code_key" ON "coupons" USING btree ("merchant_id","code");--> statement-breakpoint
CREATE INDEX "coupons_member_idx" ON "coupons" USING btree ("member_id","status");--> statement-breakpoint
CREATE INDEX "coupons_template_idx" ON "coupons" USING btree ("template_id");--> statement-breakpoint
CREATE INDEX "member_consents_member_idx" ON "member_consents" USING btree ("member_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "members_phone_key" ON "members" USING btree ("merchant_id","phone") WHERE "members"."status" = 'active';--> statement-breakpoint
CREATE UNIQUE INDEX "members_card_key" ON "members" USING btree ("merchant_id","card_no");--> statement-breakpoint
CREATE INDEX "members_birthday_idx" ON "members" USING btree ("merchant_id","birth_month","birth_day");--> statement-breakpoint
CREATE INDEX "members_tier_idx" ON "members" USING btree ("merchant_id","tier_id");--> statement-breakpoint
CREATE INDEX "points_ledger_member_idx" ON "points_ledger" USING btree ("member_id","id");--> statement-breakpoint
CREATE INDEX "points_ledger_sale_idx" ON "points_ledger" USING btree ("sale_id");--> statement-breakpoint
CREATE INDEX "points_lots_member_idx" ON "points_lots" USING btree ("member_id","expires_at","ledger_id") WHERE "points_lots"."remaining" > 0;--> statement-breakpoint
CREATE INDEX "stored_value_ledger_member_idx" ON "stored_value_ledger" USING btree ("member_id","id");--> statement-breakpoint
CREATE INDEX "stored_value_ledger_sale_idx" ON "stored_value_ledger" USING btree ("sale_id");--> statement-breakpoint
CREATE INDEX "stored_value_topups_member_idx" ON "stored_value_topups" USING btree ("member_id");--> statement-breakpoint
CREATE INDEX "stored_value_topups_day_idx" ON "stored_value_topups" USING btree ("merchant_id","business_date","store_id");--> statement-breakpoint
CREATE INDEX "tier_history_member_idx" ON "tier_history" USING btree ("member_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "tiers_code_key" ON "tiers" USING btree ("merchant_id","code");--> statement-breakpoint
CREATE UNIQUE INDEX "tiers_rank_key" ON "tiers" USING btree ("merchant_id","rank");--> statement-breakpoint
CREATE INDEX "topup_tenders_topup_idx" ON "topup_tenders" USING btree ("topup_id");--> statement-breakpoint
CREATE UNIQUE INDEX "topup_tenders_payment_no_key" ON "topup_tenders" USING btree ("merchant_id","payment_no") WHERE "topup_tenders"."payment_no" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "users_pin_key" ON "users" USING btree ("merchant_id","pin_hmac") WHERE "users"."pin_hmac" is not null;--> statement-breakpoint
CREATE TRIGGER points_ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON points_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION tb_refuse_change();
--> statement-breakpoint
CREATE TRIGGER stored_value_ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON stored_value_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION tb_refuse_change();
--> statement-breakpoint
CREATE TRIGGER member_consents_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON member_consents
  FOR EACH STATEMENT EXECUTE FUNCTION tb_refuse_change();
--> statement-breakpoint
CREATE TRIGGER time_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON time_entries
  FOR EACH STATEMENT EXECUTE FUNCTION tb_refuse_change();
--> statement-breakpoint
CREATE TRIGGER tier_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON tier_history
  FOR EACH STATEMENT EXECUTE FUNCTION tb_refuse_change();
