CREATE TABLE "job_progress" (
	"merchant_id" uuid NOT NULL,
	"task" text NOT NULL,
	"key" text NOT NULL,
	"label" text NOT NULL,
	"job_id" text,
	"done" bigint DEFAULT 0 NOT NULL,
	"total" bigint,
	"unit" text NOT NULL,
	"error" text,
	"started_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "job_progress_merchant_id_task_key_pk" PRIMARY KEY("merchant_id","task","key")
);
--> statement-breakpoint
CREATE INDEX "job_progress_running_idx" ON "job_progress" USING btree ("merchant_id","started_at") WHERE "job_progress"."finished_at" is null;--> statement-breakpoint
CREATE INDEX "job_progress_finished_idx" ON "job_progress" USING btree ("merchant_id","finished_at");