// Applies the committed SQL migrations (ours from ./drizzle, then graphile-worker's) under one advisory lock,
// so processes starting together migrate once and the others wait, then find nothing left to do.
import { fileURLToPath } from 'node:url'
import { drizzle } from 'drizzle-orm/node-postgres'
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator'
import { runMigrations as workerMigrations } from 'graphile-worker'
import type pg from 'pg'
import type { Logger } from '../lib/logger.ts'
import { workerLogger } from './graphile-logger.ts'

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url))

/** Arbitrary, fixed: the key of the advisory lock that serialises migrations on a database. */
const MIGRATION_LOCK = 7_462_010_001

export async function migrate(pool: pg.Pool, logger: Logger): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
    try {
      await drizzleMigrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER })
      await workerMigrations({ pgPool: pool, logger: workerLogger(logger) })
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK])
    }
    logger.debug('migrations applied')
  } finally {
    client.release()
  }
}
