-- Device jobs for the events of a statement, as in 0026, but a cash drawer whose printer is switched off is not
-- picked (its kick would go to the printer that was told to get nothing more): the till's next drawer is, if any.
CREATE OR REPLACE FUNCTION tb_device_jobs_for_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Most statements that record events cause no device work (stock changes, or a merchant without devices): they
  -- leave here, before the statement below is planned and run.
  IF NOT EXISTS (SELECT 1 FROM new_events n
                  WHERE n.type IN ('sale.completed', 'sale.refunded', 'sale.voided', 'drawer.open_requested')
                    AND EXISTS (SELECT 1 FROM devices d WHERE d.merchant_id = n.merchant_id AND d.enabled)) THEN
    RETURN NULL;
  END IF;
  WITH ev AS (
    SELECT n.id AS event_id, n.merchant_id, n.type, n.data FROM new_events n
     WHERE n.type IN ('sale.completed', 'sale.refunded', 'sale.voided', 'drawer.open_requested')
       AND EXISTS (SELECT 1 FROM devices d WHERE d.merchant_id = n.merchant_id AND d.enabled)
  ), sale_ev AS (
    SELECT s.merchant_id, s.id AS sale_id, s.store_id, s.register_id,
           EXISTS (SELECT 1 FROM sale_tenders t WHERE t.sale_id = s.id AND t.kind = 'cash') AS cash
      FROM ev e JOIN sales s ON s.id = (e.data->>'saleId')::uuid
     WHERE e.type = 'sale.completed' AND NOT s.offline
  ), refund_ev AS (
    SELECT r.merchant_id, r.id AS refund_id, r.store_id, r.register_id, e.type = 'sale.voided' AS is_void,
           EXISTS (SELECT 1 FROM refund_tenders t WHERE t.refund_id = r.id AND t.kind = 'cash') AS cash
      FROM ev e JOIN refunds r ON r.id = (e.data->>'refundId')::uuid
     WHERE e.type IN ('sale.refunded', 'sale.voided')
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
           CASE WHEN is_void THEN null ELSE jsonb_build_object('type', 'refund_receipt', 'refundId', refund_id) END,
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
          -- A drawer is kicked through its printer: one whose printer is switched off gets nothing.
          AND (d.printer_id IS NULL OR EXISTS (SELECT 1 FROM devices p WHERE p.id = d.printer_id AND p.enabled))
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
