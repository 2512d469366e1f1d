-- The channel-stock trigger leaves at once when none of the statement's events is a stock change of a merchant with a
-- channel location: a sale's own event, and every stock change of a shop that sells in no marketplace, no longer plan
-- and run the statement that notes the changes.
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
