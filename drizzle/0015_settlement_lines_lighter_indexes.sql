DROP INDEX "settlement_lines_statement_idx";--> statement-breakpoint
DROP INDEX "settlement_lines_txn_idx";--> statement-breakpoint
CREATE INDEX "settlement_lines_statement_brin" ON "settlement_lines" USING brin ("statement_id") WITH (autosummarize=true);