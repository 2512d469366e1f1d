// Before any test file: a PostgreSQL server (embedded under .data/test, or the one DATABASE_URL names) and a template
// database with every migration applied. Each test file clones the template (test/helpers/db.ts).
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import type { TestProject } from 'vitest/node'
import { createLogger } from '../src/lib/logger.ts'
import { openEmbeddedDatabase, type EmbeddedDatabase } from '../src/db/embedded.ts'
import { openDatabase } from '../src/db/client.ts'
import { migrate } from '../src/db/migrate.ts'
import { withDatabase } from './helpers/pg-url.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string
    templateDb: string
    runId: string
  }
}

let embedded: EmbeddedDatabase | undefined

export async function setup(project: TestProject) {
  const logger = createLogger({ level: 'warn' })
  let adminUrl: string
  let runDir: string | undefined
  if (process.env.DATABASE_URL) {
    adminUrl = process.env.DATABASE_URL
  } else {
    // A server of its own for each run, so runs started side by side never stop each other's database.
    const root = path.resolve('.data/test-runs')
    fs.mkdirSync(root, { recursive: true })
    for (const d of fs.readdirSync(root)) {
      const pid = Number(d)
      if (pid && !alive(pid)) fs.rmSync(path.join(root, d), { recursive: true, force: true })
    }
    runDir = path.join(root, String(process.pid))
    embedded = await openEmbeddedDatabase({
      dataDir: runDir,
      logger,
      database: 'postgres',
      // Test data is thrown away: trade durability for speed.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '400' },
    })
    adminUrl = embedded.url
  }
  const runId = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`
  const templateDb = `tbt_${runId}_template`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  // Databases left by runs that were killed before their teardown.
  const stale = await admin.query<{ datname: string }>(
    `select datname from pg_database where datname like 'tbt\\_%' and not exists (select 1 from pg_stat_activity a where a.datname = pg_database.datname)`,
  )
  for (const { datname } of stale.rows) await admin.query(`drop database if exists "${datname}"`).catch(() => {})
  await admin.query(`create database "${templateDb}"`)
  const templateUrl = withDatabase(adminUrl, templateDb)
  const db = openDatabase(templateUrl, { logger, max: 2 })
  await migrate(db.pool, logger)
  await db.close()
  await admin.end()

  project.provide('pgAdminUrl', adminUrl)
  project.provide('templateDb', templateDb)
  project.provide('runId', runId)

  return async () => {
    const c = new pg.Client({ connectionString: adminUrl })
    await c.connect()
    const mine = await c.query<{ datname: string }>(`select datname from pg_database where datname like $1`, [`tbt_${runId}_%`])
    for (const { datname } of mine.rows) await c.query(`drop database if exists "${datname}" with (force)`).catch(() => {})
    await c.end()
    await embedded?.stop()
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
