// The connection pool and the drizzle handle every layer receives (passed in, never imported as a global).
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import type { PgTransaction } from 'drizzle-orm/pg-core'
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import type { Logger } from '../lib/logger.ts'
import { MoneyError } from '../lib/money.ts'

export type Db = NodePgDatabase<Record<string, never>>
export type DbTx = PgTransaction<NodePgQueryResultHKT, Record<string, never>>
/** Anything a query can run on: the pool-backed handle or an open transaction. Core operations take this first. */
export type Tx = Db | DbTx

export interface Database {
  pool: pg.Pool
  db: Db
  close(): Promise<void>
}

// bigint (int8) columns outside drizzle's typed columns (sums, counts) come back as strings; numeric stays a string.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v)
  // A sum past 2^53 cannot be counted exactly: the request that asked for it gets amount_out_of_range, not a 500.
  if (!Number.isSafeInteger(n)) throw new MoneyError(`integer ${v} is beyond the safe range`)
  return n
})

export function openDatabase(url: string, opts: { logger: Logger; max?: number; applicationName?: string }): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 20,
    application_name: opts.applicationName ?? 'tillbridge',
    idleTimeoutMillis: 30_000,
  })
  // An idle client losing its server (restart, shutdown) must not crash the process; the next query reconnects.
  pool.on('error', (err) => opts.logger.warn({ err }, 'idle database connection failed'))
  pool.on('connect', (client) => client.on('error', (err) => opts.logger.warn({ err }, 'database connection failed')))
  const db = drizzle({ client: pool }) as Db
  let closed = false
  return {
    pool,
    db,
    close: async () => {
      if (closed) return
      closed = true
      await pool.end()
    },
  }
}
