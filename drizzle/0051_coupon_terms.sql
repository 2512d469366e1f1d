-- A coupon keeps the terms it was issued with: its kind, value, minimum spend and scope are copied from its template
-- at issue, so a later change of the template is for the coupons issued after it. Coupons issued before take their
-- template's terms as they are now (the only terms known for them).
ALTER TABLE "coupons" ADD COLUMN "kind" text;--> statement-breakpoint
ALTER TABLE "coupons" ADD COLUMN "amount" bigint;--> statement-breakpoint
ALTER TABLE "coupons" ADD COLUMN "percent_bp" integer;--> statement-breakpoint
ALTER TABLE "coupons" ADD COLUMN "free_variant_id" uuid;--> statement-breakpoint
ALTER TABLE "coupons" ADD COLUMN "free_quantity" integer;--> statement-breakpoint
ALTER TABLE "coupons" ADD COLUMN "min_spend" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "coupons" ADD COLUMN "product_ids" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "coupons" ADD COLUMN "variant_ids" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "coupons" ADD COLUMN "category_ids" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
UPDATE "coupons" c SET "kind" = t."kind", "amount" = t."amount", "percent_bp" = t."percent_bp",
       "free_variant_id" = t."free_variant_id", "free_quantity" = t."free_quantity", "min_spend" = t."min_spend",
       "product_ids" = t."product_ids", "variant_ids" = t."variant_ids", "category_ids" = t."category_ids"
  FROM "coupon_templates" t WHERE t."id" = c."template_id";--> statement-breakpoint
ALTER TABLE "coupons" ALTER COLUMN "kind" SET NOT NULL;
