ALTER TABLE "points_lots" ADD COLUMN "expired" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "points_lots" ADD COLUMN "forgiven" bigint DEFAULT 0 NOT NULL;