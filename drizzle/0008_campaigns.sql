CREATE TABLE "campaign_deliveries" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"campaign_id" uuid NOT NULL,
	"run_key" text NOT NULL,
	"member_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"address" text,
	"status" text NOT NULL,
	"reason" text,
	"vendor_message_id" text,
	"vendor_code" text,
	"coupon_id" uuid,
	"claimed_at" timestamp with time zone,
	"sent_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "campaigns" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"name" text NOT NULL,
	"segment_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"message" jsonb NOT NULL,
	"coupon_template_id" uuid,
	"schedule" text NOT NULL,
	"send_at" timestamp with time zone,
	"daily_at" text,
	"quiet_start" text DEFAULT '21:00' NOT NULL,
	"quiet_end" text DEFAULT '09:00' NOT NULL,
	"rate_per_second" integer DEFAULT 50 NOT NULL,
	"attribution_days" integer DEFAULT 7 NOT NULL,
	"status" text DEFAULT 'draft' NOT NULL,
	"last_run_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "segments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"name" text NOT NULL,
	"rule" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "suppressions" (
	"merchant_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"address" text NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "campaign_deliveries" ADD CONSTRAINT "campaign_deliveries_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_segment_id_segments_id_fk" FOREIGN KEY ("segment_id") REFERENCES "public"."segments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "campaign_deliveries_key" ON "campaign_deliveries" USING btree ("campaign_id","run_key","member_id","channel");--> statement-breakpoint
CREATE INDEX "campaign_deliveries_pending_idx" ON "campaign_deliveries" USING btree ("campaign_id","run_key","status");--> statement-breakpoint
CREATE INDEX "campaign_deliveries_vendor_idx" ON "campaign_deliveries" USING btree ("vendor_message_id") WHERE "campaign_deliveries"."vendor_message_id" is not null;--> statement-breakpoint
CREATE INDEX "campaign_deliveries_member_idx" ON "campaign_deliveries" USING btree ("merchant_id","member_id");--> statement-breakpoint
CREATE INDEX "campaigns_merchant_idx" ON "campaigns" USING btree ("merchant_id","status");--> statement-breakpoint
CREATE INDEX "segments_merchant_idx" ON "segments" USING btree ("merchant_id");--> statement-breakpoint
CREATE UNIQUE INDEX "suppressions_key" ON "suppressions" USING btree ("merchant_id","channel","address");