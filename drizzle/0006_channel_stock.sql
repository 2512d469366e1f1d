CREATE TABLE "channel_drift" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "channel_drift_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"run_id" uuid,
	"level_id" uuid NOT NULL,
	"sku" text,
	"remote_location_id" text NOT NULL,
	"last_pushed" bigint,
	"remote" bigint NOT NULL,
	"target" bigint NOT NULL,
	"repaired" boolean DEFAULT false NOT NULL,
	"found_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "channel_levels" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"listing_id" uuid NOT NULL,
	"variant_id" uuid NOT NULL,
	"remote_location_id" text NOT NULL,
	"target" bigint,
	"last_pushed" bigint,
	"last_pushed_at" timestamp with time zone,
	"last_remote" bigint,
	"last_remote_at" timestamp with time zone,
	"status" text DEFAULT 'pending' NOT NULL,
	"last_error" text,
	"dirty_since" timestamp with time zone,
	"change_seq" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "channel_listings" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"external_id" text NOT NULL,
	"external_ids" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"sku" text,
	"barcode" text,
	"title" text DEFAULT '' NOT NULL,
	"tracked" boolean DEFAULT true NOT NULL,
	"variant_id" uuid,
	"matched_by" text,
	"state" text NOT NULL,
	"candidates" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"seen_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "channel_locations" (
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"remote_location_id" text NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"location_ids" uuid[] NOT NULL,
	"pickup_location_id" uuid,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "channel_locations_connection_id_remote_location_id_pk" PRIMARY KEY("connection_id","remote_location_id")
);
--> statement-breakpoint
CREATE TABLE "channel_order_lines" (
	"order_id" uuid NOT NULL,
	"merchant_id" uuid NOT NULL,
	"line_id" text NOT NULL,
	"sku" text,
	"variant_id" uuid,
	"quantity" bigint NOT NULL,
	"reservation_id" uuid,
	"state" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "channel_order_lines_order_id_line_id_pk" PRIMARY KEY("order_id","line_id"),
	CONSTRAINT "channel_order_lines_quantity_check" CHECK ("channel_order_lines"."quantity" >= 0)
);
--> statement-breakpoint
CREATE TABLE "channel_orders" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"remote_order_id" text NOT NULL,
	"name" text NOT NULL,
	"status" text NOT NULL,
	"remote_updated_at" timestamp with time zone NOT NULL,
	"location_id" uuid,
	"pickup" boolean DEFAULT false NOT NULL,
	"flag" text,
	"collected_at" timestamp with time zone,
	"collected_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "channel_rules" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"variant_id" uuid,
	"percent" integer DEFAULT 100 NOT NULL,
	"buffer" integer DEFAULT 0 NOT NULL,
	"maximum" integer,
	"zero_at_or_below" integer,
	"fixed" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "channel_rules_percent_check" CHECK ("channel_rules"."percent" between 0 and 100),
	CONSTRAINT "channel_rules_units_check" CHECK ("channel_rules"."buffer" >= 0 and coalesce("channel_rules"."maximum", 0) >= 0 and coalesce("channel_rules"."zero_at_or_below", 0) >= 0 and coalesce("channel_rules"."fixed", 0) >= 0)
);
--> statement-breakpoint
CREATE TABLE "channel_stock_changes" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "channel_stock_changes_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"connection_id" uuid NOT NULL,
	"variant_id" uuid NOT NULL,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "channel_levels" ADD CONSTRAINT "channel_levels_listing_id_channel_listings_id_fk" FOREIGN KEY ("listing_id") REFERENCES "public"."channel_listings"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_levels" ADD CONSTRAINT "channel_levels_variant_id_variants_id_fk" FOREIGN KEY ("variant_id") REFERENCES "public"."variants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_listings" ADD CONSTRAINT "channel_listings_variant_id_variants_id_fk" FOREIGN KEY ("variant_id") REFERENCES "public"."variants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_locations" ADD CONSTRAINT "channel_locations_pickup_location_id_stock_locations_id_fk" FOREIGN KEY ("pickup_location_id") REFERENCES "public"."stock_locations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_order_lines" ADD CONSTRAINT "channel_order_lines_order_id_channel_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."channel_orders"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_order_lines" ADD CONSTRAINT "channel_order_lines_variant_id_variants_id_fk" FOREIGN KEY ("variant_id") REFERENCES "public"."variants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_orders" ADD CONSTRAINT "channel_orders_location_id_stock_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."stock_locations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_rules" ADD CONSTRAINT "channel_rules_variant_id_variants_id_fk" FOREIGN KEY ("variant_id") REFERENCES "public"."variants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "channel_drift_connection_idx" ON "channel_drift" USING btree ("connection_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "channel_levels_key" ON "channel_levels" USING btree ("connection_id","listing_id","remote_location_id");--> statement-breakpoint
CREATE INDEX "channel_levels_variant_idx" ON "channel_levels" USING btree ("variant_id");--> statement-breakpoint
CREATE INDEX "channel_levels_dirty_idx" ON "channel_levels" USING btree ("connection_id","dirty_since") WHERE "channel_levels"."dirty_since" is not null;--> statement-breakpoint
CREATE INDEX "channel_levels_status_idx" ON "channel_levels" USING btree ("connection_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "channel_listings_external_key" ON "channel_listings" USING btree ("connection_id","external_id");--> statement-breakpoint
CREATE UNIQUE INDEX "channel_listings_variant_key" ON "channel_listings" USING btree ("connection_id","variant_id") WHERE "channel_listings"."variant_id" is not null;--> statement-breakpoint
CREATE INDEX "channel_listings_state_idx" ON "channel_listings" USING btree ("connection_id","state");--> statement-breakpoint
CREATE UNIQUE INDEX "channel_orders_remote_key" ON "channel_orders" USING btree ("connection_id","remote_order_id");--> statement-breakpoint
CREATE INDEX "channel_orders_merchant_idx" ON "channel_orders" USING btree ("merchant_id","status","flag");--> statement-breakpoint
CREATE UNIQUE INDEX "channel_rules_key" ON "channel_rules" USING btree ("connection_id",coalesce("variant_id", '00000000-0000-0000-0000-000000000000'::uuid));--> statement-breakpoint
CREATE INDEX "channel_stock_changes_connection_idx" ON "channel_stock_changes" USING btree ("connection_id","id");--> statement-breakpoint
-- A stock change reaches the marketplaces through a job added in its own transaction (DESIGN invariant 5): the
-- change is noted for every channel fed by the changed (variant, location) that lists the variant, and one
-- `stock.push` job per connection is queued. The job key coalesces a burst of changes into one push of the latest
-- quantities; `preserve_run_at` keeps the first change's time, so a steady stream of sales never postpones the push;
-- the named queue runs one push per connection at a time, so an older quantity never lands after a newer one. Only
-- rows are inserted here: a sale locks nothing of the sync, so it cannot deadlock with a running push.
CREATE FUNCTION tb_channel_stock_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN
    WITH changed AS (
      SELECT DISTINCT n.merchant_id, (n.data->>'variantId')::uuid AS variant_id, (n.data->>'locationId')::uuid AS location_id
        FROM new_events n
       WHERE n.type = 'stock.changed'
    ), noted AS (
      INSERT INTO channel_stock_changes (connection_id, variant_id, changed_at)
      SELECT DISTINCT cl.connection_id, c.variant_id, clock_timestamp()
        FROM changed c
        JOIN channel_locations cl ON cl.merchant_id = c.merchant_id AND c.location_id = ANY (cl.location_ids)
       WHERE EXISTS (SELECT 1 FROM channel_levels l WHERE l.connection_id = cl.connection_id AND l.variant_id = c.variant_id)
      RETURNING connection_id
    )
    SELECT DISTINCT k.merchant_id, k.id AS connection_id
      FROM (SELECT DISTINCT connection_id FROM noted) n JOIN connections k ON k.id = n.connection_id
     WHERE k.enabled AND k.deleted_at IS NULL
  LOOP
    PERFORM graphile_worker.add_job('stock.push',
      json_build_object('merchantId', r.merchant_id, 'connectionId', r.connection_id),
      queue_name => 'stock-push:' || r.connection_id::text,
      run_at => now() + interval '150 milliseconds',
      max_attempts => 25,
      job_key => 'stock.push:' || r.connection_id::text,
      job_key_mode => 'preserve_run_at');
  END LOOP;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER events_channel_stock AFTER INSERT ON events REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION tb_channel_stock_changed();
