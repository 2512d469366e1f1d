CREATE TABLE "time_entry_voids" (
	"entry_id" bigint PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"voided_by" uuid,
	"reason" text NOT NULL,
	"voided_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "time_entries" ADD COLUMN "added_by" uuid;--> statement-breakpoint
ALTER TABLE "time_entries" ADD COLUMN "reason" text;--> statement-breakpoint
ALTER TABLE "time_entry_voids" ADD CONSTRAINT "time_entry_voids_entry_id_time_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."time_entries"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "time_entry_voids" ADD CONSTRAINT "time_entry_voids_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "time_entry_voids" ADD CONSTRAINT "time_entry_voids_voided_by_users_id_fk" FOREIGN KEY ("voided_by") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "time_entries" ADD CONSTRAINT "time_entries_added_by_users_id_fk" FOREIGN KEY ("added_by") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE TRIGGER time_entry_voids_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON time_entry_voids
  FOR EACH STATEMENT EXECUTE FUNCTION tb_refuse_change();
