-- Loyalty day counts are bounded (MAX_LOYALTY_DAYS, a hundred years): a merchant's stored count above it, which made
-- member sales, points adjustments and the members report fail, is brought down to it, so the settings still parse.
UPDATE merchants
   SET settings = jsonb_set(settings, '{loyalty,expiry,days}', '36500'::jsonb)
 WHERE jsonb_typeof(settings #> '{loyalty,expiry,days}') = 'number'
   AND (settings #>> '{loyalty,expiry,days}')::numeric > 36500;
--> statement-breakpoint
UPDATE merchants
   SET settings = jsonb_set(settings, '{loyalty,lapsedDays}', '36500'::jsonb)
 WHERE jsonb_typeof(settings #> '{loyalty,lapsedDays}') = 'number'
   AND (settings #>> '{loyalty,lapsedDays}')::numeric > 36500;
