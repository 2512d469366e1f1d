// Opens what every process of the hub needs (database, migrations, secrets, logger) from the configuration,
// and closes it again in the right order. The CLI builds one of these for each command.
import fs from 'node:fs'
import path from 'node:path'
import type { Config } from './lib/config.ts'
import { createLogger, type Logger } from './lib/logger.ts'
import { createSecretBox, generateSecretKey, type SecretBox } from './lib/secrets.ts'
import { openDatabase, type Database } from './db/client.ts'
import { openEmbeddedDatabase } from './db/embedded.ts'
import { migrate } from './db/migrate.ts'

export type Clock = () => Date

/** What operations outside core are given: passed in, never imported as globals. */
export interface Hub {
  config: Config
  logger: Logger
  database: Database
  secrets: SecretBox
  clock: Clock
}

export interface OpenHubOptions {
  logger?: Logger
  /** Apply migrations before returning (default true). */
  migrate?: boolean
  poolSize?: number
  clock?: Clock
  applicationName?: string
}

export interface OpenedHub extends Hub {
  /** True when this process runs the embedded database and will stop it on close. */
  ownsDatabase: boolean
  close(): Promise<void>
}

/** The key that seals secrets: TILLBRIDGE_SECRET_KEY, or one generated once into the data dir. */
export function resolveSecretKey(config: Config, logger: Logger): string {
  if (config.secretKey) return config.secretKey
  const file = path.join(config.dataDir, 'secret.key')
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim()
  fs.mkdirSync(config.dataDir, { recursive: true })
  const key = generateSecretKey()
  try {
    fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8').trim()
    throw e
  }
  if (config.databaseUrl) logger.warn({ file }, 'TILLBRIDGE_SECRET_KEY is not set: generated a key into the data dir; set the variable in production')
  return key
}

/** The secret box, opened on first use: commands that never touch secrets (migrate) neither need nor create a key. */
function lazySecretBox(open: () => SecretBox): SecretBox {
  let box: SecretBox | undefined
  const get = () => (box ??= open())
  return {
    get currentKeyId() {
      return get().currentKeyId
    },
    encrypt: (p) => get().encrypt(p),
    decrypt: (s) => get().decrypt(s),
    needsRotation: (s) => get().needsRotation(s),
    mac: (purpose, text) => get().mac(purpose, text),
    macs: (purpose, text) => get().macs(purpose, text),
  }
}

export async function openHub(config: Config, opts: OpenHubOptions = {}): Promise<OpenedHub> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel })
  const secrets = lazySecretBox(() => createSecretBox(resolveSecretKey(config, logger)))
  const embedded = config.databaseUrl ? undefined : await openEmbeddedDatabase({ dataDir: config.dataDir, logger })
  const url = config.databaseUrl ?? embedded!.url
  const database = openDatabase(url, { logger, max: opts.poolSize, applicationName: opts.applicationName })
  try {
    if (opts.migrate !== false) await migrate(database.pool, logger)
  } catch (e) {
    await database.close()
    await embedded?.stop()
    throw e
  }
  return {
    config,
    logger,
    database,
    secrets,
    clock: opts.clock ?? (() => new Date()),
    ownsDatabase: embedded?.owned ?? false,
    close: async () => {
      await database.close()
      await embedded?.stop()
    },
  }
}
