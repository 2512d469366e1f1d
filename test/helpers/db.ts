// A database of its own for each test file, cloned from the migrated template, and a Hub built on it.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import pg from 'pg'
import { afterAll, beforeAll, inject } from 'vitest'
import { createLogger } from '../../src/lib/logger.ts'
import { loadConfig, type Config } from '../../src/lib/config.ts'
import { createSecretBox } from '../../src/lib/secrets.ts'
import { spoolDir, type SpoolKind } from '../../src/lib/spool.ts'
import { openDatabase, type Database } from '../../src/db/client.ts'
import type { Clock, Hub } from '../../src/runtime.ts'
import { withDatabase } from './pg-url.ts'

export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString('base64')

/** Creates a fresh, migrated database and returns its URL. */
export async function createTestDatabase(opts: { empty?: boolean } = {}): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const adminUrl = inject('pgAdminUrl')
  const name = `tbt_${inject('runId')}_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(opts.empty ? `create database "${name}"` : `create database "${name}" template "${inject('templateDb')}"`)
  } finally {
    await admin.end()
  }
  return {
    url: withDatabase(adminUrl, name),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl })
      await c.connect()
      await c.query(`drop database if exists "${name}" with (force)`).catch(() => {})
      await c.end()
    },
  }
}

/** Log lines a test can inspect (for example that no secret was logged). */
export class LogCapture extends Writable {
  lines: string[] = []
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    done()
  }
  get text() {
    return this.lines.join('\n')
  }
}

export interface TestHub extends Hub {
  logs: LogCapture
  url: string
  /** Moves the hub's clock (only where code reads hub.clock). */
  setNow(d: Date | undefined): void
}

export async function openTestHub(opts: { config?: Partial<Config>; poolSize?: number } = {}): Promise<TestHub & { close(): Promise<void> }> {
  const dbInfo = await createTestDatabase()
  const logs = new LogCapture()
  const logger = createLogger({ level: 'debug', destination: logs })
  const database: Database = openDatabase(dbInfo.url, { logger, max: opts.poolSize ?? 10 })
  let fixed: Date | undefined
  const clock: Clock = () => fixed ?? new Date()
  const config: Config = { ...loadConfig({ TILLBRIDGE_DATA_DIR: '.data/test-hub' }), databaseUrl: dbInfo.url, secretKey: TEST_SECRET_KEY, ...opts.config }
  return {
    config,
    logger,
    database,
    secrets: createSecretBox(TEST_SECRET_KEY),
    clock,
    logs,
    url: dbInfo.url,
    setNow: (d) => (fixed = d),
    close: async () => {
      await database.close()
      await dbInfo.drop()
    },
  }
}

/** One hub per test file, opened before its tests and dropped after them. */
export function useTestHub(opts: Parameters<typeof openTestHub>[0] = {}): TestHub {
  let hub: Awaited<ReturnType<typeof openTestHub>> | undefined
  beforeAll(async () => {
    hub = await openTestHub(opts)
  })
  afterAll(async () => {
    await hub?.close()
  })
  return new Proxy({} as TestHub, {
    get(_t, prop) {
      if (!hub) throw new Error('the test hub is used before beforeAll ran')
      return (hub as unknown as Record<PropertyKey, unknown>)[prop]
    },
  })
}

/**
 * A test hub with a data dir of its own (removed afterwards), for tests that look at what the hub writes there:
 * downloaded bills (`downloads/`) and uploads spooled to disk (`uploads/`). `files(dir)` lists one of them.
 */
export function useTestHubWithDataDir(name: string): { hub: TestHub; dataDir: string; files(kind: SpoolKind): string[] } {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `tillbridge-${name}-`))
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const hub = useTestHub({ config: { dataDir } })
  const files = (kind: SpoolKind) => {
    const at = spoolDir(dataDir, kind)
    return fs.existsSync(at) ? fs.readdirSync(at) : []
  }
  return { hub, dataDir, files }
}

/** A Hub over an existing database (a test's second hub, a restore target), with its own secret key. */
export function hubOn(url: string, secretKey = TEST_SECRET_KEY): Hub & { close(): Promise<void> } {
  const logger = createLogger({ level: 'warn', destination: new LogCapture() })
  const database = openDatabase(url, { logger, max: 5 })
  return {
    config: { ...loadConfig({ TILLBRIDGE_DATA_DIR: '.data/test-hub' }), databaseUrl: url, secretKey },
    logger,
    database,
    secrets: createSecretBox(secretKey),
    clock: () => new Date(),
    close: () => database.close(),
  }
}
