-- A product archived or a variant taken off the shelf is not for sale: its channel levels are pushed 0 (levelStates),
-- and again our figure when it is back on sale. These triggers note the change for every channel the variant is
-- listed in and queue their pushes, as the stock trigger does for a stock change (both queue through one function).
CREATE OR REPLACE FUNCTION tb_queue_stock_push(merchant uuid, connection uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM graphile_worker.add_job('stock.push',
    json_build_object('merchantId', merchant, 'connectionId', connection),
    queue_name => 'stock-push:' || connection::text,
    run_at => now() + interval '150 milliseconds',
    max_attempts => 25,
    job_key => 'stock.push:' || connection::text,
    job_key_mode => 'preserve_run_at');
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tb_channel_stock_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_events n
                  WHERE n.type = 'stock.changed'
                    AND EXISTS (SELECT 1 FROM channel_locations cl WHERE cl.merchant_id = n.merchant_id)) THEN
    RETURN NULL;
  END IF;
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
    PERFORM tb_queue_stock_push(r.merchant_id, r.connection_id);
  END LOOP;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tb_note_channel_variants(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN
    WITH noted AS (
      INSERT INTO channel_stock_changes (connection_id, variant_id, changed_at)
      SELECT DISTINCT l.connection_id, l.variant_id, clock_timestamp()
        FROM channel_levels l
       WHERE l.variant_id = ANY (ids)
      RETURNING connection_id
    )
    SELECT DISTINCT k.merchant_id, k.id AS connection_id
      FROM (SELECT DISTINCT connection_id FROM noted) n JOIN connections k ON k.id = n.connection_id
     WHERE k.enabled AND k.deleted_at IS NULL
  LOOP
    PERFORM tb_queue_stock_push(r.merchant_id, r.connection_id);
  END LOOP;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tb_variants_sellable_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids uuid[];
BEGIN
  SELECT array_agg(n.id) INTO ids
    FROM new_variants n JOIN old_variants o ON o.id = n.id
   WHERE n.on_shelf IS DISTINCT FROM o.on_shelf;
  IF ids IS NOT NULL THEN PERFORM tb_note_channel_variants(ids); END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER variants_sellable_changed AFTER UPDATE ON variants
  REFERENCING OLD TABLE AS old_variants NEW TABLE AS new_variants
  FOR EACH STATEMENT EXECUTE FUNCTION tb_variants_sellable_changed();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tb_products_sellable_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids uuid[];
BEGIN
  SELECT array_agg(v.id) INTO ids
    FROM new_products n JOIN old_products o ON o.id = n.id JOIN variants v ON v.product_id = n.id
   WHERE n.status IS DISTINCT FROM o.status;
  IF ids IS NOT NULL THEN PERFORM tb_note_channel_variants(ids); END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER products_sellable_changed AFTER UPDATE ON products
  REFERENCING OLD TABLE AS old_products NEW TABLE AS new_products
  FOR EACH STATEMENT EXECUTE FUNCTION tb_products_sellable_changed();
