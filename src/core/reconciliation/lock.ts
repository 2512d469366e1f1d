// Runs and resolutions of one connection take turns: both decide who holds which tender and line.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'

export const lockConnection = (tx: Tx, connectionId: string) => tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`recon-run:${connectionId}`}, 0))`)
