-- A paid-in or paid-out, a stored-value change and a top-up's refund keep the business day they happened on, as sales
-- and refunds do: a later change of the merchant's time zone moves none of them to another day's voucher. Rows written
-- before take the day of their time in the merchant's zone now (the zone their vouchers were built in so far).
DROP INDEX "cash_movements_paid_idx";--> statement-breakpoint
DROP INDEX "stored_value_ledger_adjust_idx";--> statement-breakpoint
ALTER TABLE "cash_movements" ADD COLUMN "business_date" date;--> statement-breakpoint
ALTER TABLE "stored_value_ledger" ADD COLUMN "business_date" date;--> statement-breakpoint
ALTER TABLE "stored_value_topups" ADD COLUMN "refunded_business_date" date;--> statement-breakpoint
-- The two ledgers are append-only (their triggers refuse any UPDATE): set aside for this backfill only.
ALTER TABLE "cash_movements" DISABLE TRIGGER "cash_movements_append_only";--> statement-breakpoint
UPDATE "cash_movements" m SET "business_date" = (m."at" AT TIME ZONE mc."time_zone")::date
  FROM "merchants" mc WHERE mc."id" = m."merchant_id";--> statement-breakpoint
ALTER TABLE "cash_movements" ENABLE TRIGGER "cash_movements_append_only";--> statement-breakpoint
ALTER TABLE "stored_value_ledger" DISABLE TRIGGER "stored_value_ledger_append_only";--> statement-breakpoint
UPDATE "stored_value_ledger" v SET "business_date" = (v."created_at" AT TIME ZONE mc."time_zone")::date
  FROM "merchants" mc WHERE mc."id" = v."merchant_id";--> statement-breakpoint
ALTER TABLE "stored_value_ledger" ENABLE TRIGGER "stored_value_ledger_append_only";--> statement-breakpoint
UPDATE "stored_value_topups" u SET "refunded_business_date" = (u."refunded_at" AT TIME ZONE mc."time_zone")::date
  FROM "merchants" mc WHERE mc."id" = u."merchant_id" AND u."refunded_at" IS NOT NULL;--> statement-breakpoint
ALTER TABLE "cash_movements" ALTER COLUMN "business_date" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "stored_value_ledger" ALTER COLUMN "business_date" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "stored_value_topups_refunded_day_idx" ON "stored_value_topups" USING btree ("merchant_id","refunded_business_date") WHERE "stored_value_topups"."status" = 'refunded';--> statement-breakpoint
CREATE INDEX "cash_movements_paid_idx" ON "cash_movements" USING btree ("merchant_id","business_date") WHERE kind in ('paid_in', 'paid_out');--> statement-breakpoint
CREATE INDEX "stored_value_ledger_adjust_idx" ON "stored_value_ledger" USING btree ("merchant_id","business_date") WHERE "stored_value_ledger"."kind" = 'adjust';
