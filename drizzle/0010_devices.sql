CREATE TABLE "device_jobs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"store_id" uuid NOT NULL,
	"device_id" uuid NOT NULL,
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "device_jobs_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"action" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"document" jsonb NOT NULL,
	"reprint_of" uuid,
	"source" text NOT NULL,
	"requested_by" uuid,
	"state" text DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"reason" text,
	"message" text,
	"retryable" boolean DEFAULT false NOT NULL,
	"settled_by" text,
	"result" jsonb,
	"preview" text,
	"expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "device_jobs_state_check" CHECK ("device_jobs"."state" in ('queued', 'sent', 'done', 'failed', 'unknown', 'dropped')),
	CONSTRAINT "device_jobs_action_check" CHECK ("device_jobs"."action" in ('print', 'drawer', 'display', 'weigh'))
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"store_id" uuid NOT NULL,
	"register_id" uuid,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"driver" text NOT NULL,
	"address" text NOT NULL,
	"route" text DEFAULT 'bridge' NOT NULL,
	"paper_width" integer,
	"encoding" text,
	"options" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"printer_id" uuid,
	"category_ids" uuid[] DEFAULT '{}'::uuid[] NOT NULL,
	"connection_id" uuid,
	"enabled" boolean DEFAULT true NOT NULL,
	"status" jsonb,
	"status_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "devices_kind_check" CHECK ("devices"."kind" in ('receipt_printer', 'kitchen_printer', 'label_printer', 'cash_drawer', 'customer_display', 'scale', 'card_terminal')),
	CONSTRAINT "devices_route_check" CHECK ("devices"."route" in ('bridge', 'hub')),
	CONSTRAINT "devices_paper_width_check" CHECK ("devices"."paper_width" is null or "devices"."paper_width" in (58, 80))
);
--> statement-breakpoint
CREATE TABLE "terminal_payments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"device_id" uuid NOT NULL,
	"idempotency_key" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"reference" text NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"vendor_payment_id" text,
	"vendor_charge_id" text,
	"card_brand" text,
	"last4" text,
	"failure_code" text,
	"failure_message" text,
	"requested_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "store_id" uuid;--> statement-breakpoint
CREATE UNIQUE INDEX "device_jobs_idempotency_key" ON "device_jobs" USING btree ("merchant_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "device_jobs_open_idx" ON "device_jobs" USING btree ("store_id","seq") WHERE "device_jobs"."state" in ('queued', 'sent');--> statement-breakpoint
CREATE INDEX "device_jobs_device_idx" ON "device_jobs" USING btree ("device_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "devices_store_name_key" ON "devices" USING btree ("merchant_id","store_id","name");--> statement-breakpoint
CREATE INDEX "devices_store_idx" ON "devices" USING btree ("store_id","kind");--> statement-breakpoint
CREATE UNIQUE INDEX "terminal_payments_key" ON "terminal_payments" USING btree ("merchant_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "terminal_payments_device_idx" ON "terminal_payments" USING btree ("device_id","created_at");--> statement-breakpoint
-- A time-ordered UUID (version 7) for rows written by triggers, like the application's ids (src/lib/ids.ts).
CREATE FUNCTION tb_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
--> statement-breakpoint
-- The device work a committed sale, refund or drawer request causes, written in the same transaction as its event:
-- the receipt on the till's receipt printer (else the store's shared one), a drawer kick when cash changed hands
-- (valid for 10 seconds), kitchen tickets on the printers routed to the lines' categories (or a parent of them), the
-- change on the till's customer display. Keys are derived from the cause, so a repeated event makes no second job.
CREATE FUNCTION tb_device_jobs_for_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_events WHERE type IN ('sale.completed', 'sale.refunded', 'drawer.open_requested')) THEN
    RETURN NULL;
  END IF;
  WITH ev AS (
    SELECT n.id AS event_id, n.merchant_id, n.type, n.data FROM new_events n
     WHERE n.type IN ('sale.completed', 'sale.refunded', 'drawer.open_requested')
       AND EXISTS (SELECT 1 FROM devices d WHERE d.merchant_id = n.merchant_id AND d.enabled)
  ), sale_ev AS (
    SELECT s.merchant_id, s.id AS sale_id, s.store_id, s.register_id,
           EXISTS (SELECT 1 FROM sale_tenders t WHERE t.sale_id = s.id AND t.kind = 'cash') AS cash
      FROM ev e JOIN sales s ON s.id = (e.data->>'saleId')::uuid
     WHERE e.type = 'sale.completed'
  ), refund_ev AS (
    SELECT r.merchant_id, r.id AS refund_id, r.store_id, r.register_id,
           EXISTS (SELECT 1 FROM refund_tenders t WHERE t.refund_id = r.id AND t.kind = 'cash') AS cash
      FROM ev e JOIN refunds r ON r.id = (e.data->>'refundId')::uuid
     WHERE e.type = 'sale.refunded'
  ), drawer_ev AS (
    SELECT e.merchant_id, e.event_id, g.store_id, g.id AS register_id, e.data->>'reason' AS reason
      FROM ev e JOIN registers g ON g.id = (e.data->>'registerId')::uuid
     WHERE e.type = 'drawer.open_requested'
  ), till AS (
    -- Every cause with its till, for the devices picked per till.
    SELECT merchant_id, store_id, register_id, 'sale:' || sale_id AS cause, 'sale' AS source, cash,
           jsonb_build_object('type', 'receipt', 'saleId', sale_id) AS receipt,
           jsonb_build_object('type', 'drawer', 'reason', null, 'saleId', sale_id) AS drawer,
           jsonb_build_object('type', 'display', 'screen', 'change', 'saleId', sale_id) AS display
      FROM sale_ev
    UNION ALL
    SELECT merchant_id, store_id, register_id, 'refund:' || refund_id, 'refund', cash,
           jsonb_build_object('type', 'refund_receipt', 'refundId', refund_id),
           jsonb_build_object('type', 'drawer', 'reason', null, 'refundId', refund_id), null
      FROM refund_ev
    UNION ALL
    SELECT merchant_id, store_id, register_id, 'drawer:' || event_id, 'drawer', true, null,
           jsonb_build_object('type', 'drawer', 'reason', reason), null
      FROM drawer_ev
  ), pick AS (
    -- The till's own device of a kind, else the store's shared one.
    SELECT t.*, k.kind, d.id AS device_id
      FROM till t
     CROSS JOIN (VALUES ('receipt_printer'), ('cash_drawer'), ('customer_display')) AS k(kind)
     CROSS JOIN LATERAL (
       SELECT d.id FROM devices d
        WHERE d.store_id = t.store_id AND d.kind = k.kind AND d.enabled AND (d.register_id = t.register_id OR d.register_id IS NULL)
        ORDER BY d.register_id IS NULL, d.created_at LIMIT 1) d
  ), sale_categories AS (
    WITH RECURSIVE up AS (
      SELECT DISTINCT se.sale_id, l.category_id AS id FROM sale_ev se JOIN sale_lines l ON l.sale_id = se.sale_id WHERE l.category_id IS NOT NULL
      UNION
      SELECT up.sale_id, c.parent_id FROM up JOIN categories c ON c.id = up.id WHERE c.parent_id IS NOT NULL
    )
    SELECT sale_id, array_agg(id) AS ids FROM up GROUP BY sale_id
  ), wanted AS (
    SELECT merchant_id, store_id, device_id, 'print' AS action, cause || ':receipt' AS key, receipt AS doc, source, interval '1 hour' AS ttl
      FROM pick WHERE kind = 'receipt_printer' AND receipt IS NOT NULL
    UNION ALL
    SELECT merchant_id, store_id, device_id, 'drawer', cause || ':drawer', drawer, source, interval '10 seconds'
      FROM pick WHERE kind = 'cash_drawer' AND cash
    UNION ALL
    SELECT merchant_id, store_id, device_id, 'display', cause || ':display', display, source, interval '30 seconds'
      FROM pick WHERE kind = 'customer_display' AND display IS NOT NULL
    UNION ALL
    SELECT se.merchant_id, se.store_id, d.id, 'print', 'sale:' || se.sale_id || ':kitchen:' || d.id,
           jsonb_build_object('type', 'kitchen', 'saleId', se.sale_id), 'sale', interval '15 minutes'
      FROM sale_ev se JOIN sale_categories sc ON sc.sale_id = se.sale_id
      JOIN devices d ON d.store_id = se.store_id AND d.kind = 'kitchen_printer' AND d.enabled AND d.category_ids && sc.ids
  )
  INSERT INTO device_jobs (id, merchant_id, store_id, device_id, action, idempotency_key, document, source, expires_at)
  SELECT tb_uuid_v7(), merchant_id, store_id, device_id, action, key, doc, source, now() + ttl FROM wanted
  ON CONFLICT (merchant_id, idempotency_key) DO NOTHING;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER events_device_jobs AFTER INSERT ON events REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION tb_device_jobs_for_events();
--> statement-breakpoint
-- Work waiting for a device wakes whoever drives it, at commit: the store's bridge link (through NOTIFY, which every
-- hub process listening hears) and, for devices the hub drives itself, one runner job per device.
CREATE FUNCTION tb_device_jobs_wake() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT DISTINCT store_id FROM queued_jobs WHERE state = 'queued' LOOP
    PERFORM pg_notify('tb_device_jobs', r.store_id::text);
  END LOOP;
  FOR r IN
    SELECT DISTINCT j.merchant_id, j.device_id FROM queued_jobs j JOIN devices d ON d.id = j.device_id
     WHERE j.state = 'queued' AND d.route = 'hub'
  LOOP
    PERFORM graphile_worker.add_job('device.run',
      json_build_object('merchantId', r.merchant_id, 'deviceId', r.device_id),
      queue_name => 'device:' || r.device_id::text,
      max_attempts => 5,
      job_key => 'device.run:' || r.device_id::text);
  END LOOP;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER device_jobs_wake_insert AFTER INSERT ON device_jobs REFERENCING NEW TABLE AS queued_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION tb_device_jobs_wake();
--> statement-breakpoint
CREATE TRIGGER device_jobs_wake_update AFTER UPDATE ON device_jobs REFERENCING NEW TABLE AS queued_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION tb_device_jobs_wake();
