CREATE TABLE "daily_marks" (
	"merchant_id" uuid NOT NULL,
	"task" text NOT NULL,
	"through" date NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "daily_marks_merchant_id_task_pk" PRIMARY KEY("merchant_id","task")
);
