ALTER TABLE "variants" ADD COLUMN "tax_category_id" uuid;--> statement-breakpoint
ALTER TABLE "variants" ADD COLUMN "unit" text;--> statement-breakpoint
ALTER TABLE "variants" ADD CONSTRAINT "variants_tax_category_id_tax_categories_id_fk" FOREIGN KEY ("tax_category_id") REFERENCES "public"."tax_categories"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "variants" ADD CONSTRAINT "variants_unit_check" CHECK ("variants"."unit" in ('piece', 'g', 'ml', 'cm'));