// Configuration comes from the environment only, validated once at start with one clear message per bad value.
import path from 'node:path'
import { z } from 'zod'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const postgresUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v)
      return u.protocol === 'postgres:' || u.protocol === 'postgresql:'
    } catch {
      return false
    }
  }, 'must be a postgres:// or postgresql:// URL')

const portNumber = () =>
  z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be between 0 and 65535').max(65535, 'must be between 0 and 65535')

const EnvSchema = z.object({
  PORT: portNumber().default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_POOL_SIZE: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(2, 'must be at least 2')
    .max(500, 'must be at most 500')
    .optional(),
  TILLBRIDGE_DATA_DIR: z.string().min(1, 'must not be empty').default('./.data'),
  TILLBRIDGE_SECRET_KEY: z.string().min(1, 'must not be empty').optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),
  WORKER_POLL_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(250),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  PUBLIC_URL: z.url({ error: 'must be an http(s) URL' }).optional(),
  METRICS_PORT: portNumber().optional(),
  TRUST_PROXY: z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).default('false'),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
})

export type LogLevel = (typeof LOG_LEVELS)[number]

export interface Config {
  port: number
  host: string
  databaseUrl: string | undefined
  /** Connections a hub process keeps to PostgreSQL; unset, sized by poolSizeFor. */
  databasePoolSize?: number
  dataDir: string
  secretKey: string | undefined
  logLevel: LogLevel
  workerConcurrency: number
  /** How often the worker looks for jobs that became due (new jobs wake it at once). */
  workerPollIntervalMs: number
  shutdownTimeoutMs: number
  /** Where vendors reach this hub (webhook addresses given to marketplaces); default http://localhost:PORT. */
  publicUrl: string
  /** When set, GET /metrics needs `Authorization: Bearer <token>`; unset, it is open. */
  metricsToken?: string
  /** Where a `worker` process (which has no API listener) serves /health and /metrics; unset, it serves neither. */
  metricsPort?: number
  /**
   * The hub is behind one reverse proxy that appends the client's address to X-Forwarded-For: the last entry is the
   * client (sign-ins are throttled per client address). Unset, the address is the connection's own.
   */
  trustProxy?: boolean
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const blankToUndefined = (env: NodeJS.ProcessEnv) =>
  Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))

/** The configuration with the port a command line gave (`--port`): the default PUBLIC_URL follows it too. */
export function withPort(config: Config, port: number, env: NodeJS.ProcessEnv = process.env): Config {
  return { ...config, port, publicUrl: env.PUBLIC_URL ? config.publicUrl : `http://localhost:${port}` }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(blankToUndefined(env))
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? 'environment')
        const shown = name === 'TILLBRIDGE_SECRET_KEY' || name === 'DATABASE_URL' || name === 'METRICS_TOKEN' ? '' : ` (got ${JSON.stringify(env[name])})`
        return `${name} ${i.message}${shown}`
      }),
    )
  }
  const e = parsed.data
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    dataDir: path.resolve(e.TILLBRIDGE_DATA_DIR),
    secretKey: e.TILLBRIDGE_SECRET_KEY,
    logLevel: e.LOG_LEVEL,
    workerConcurrency: e.WORKER_CONCURRENCY,
    workerPollIntervalMs: e.WORKER_POLL_INTERVAL_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    metricsToken: e.METRICS_TOKEN,
    metricsPort: e.METRICS_PORT,
    trustProxy: e.TRUST_PROXY === 'true' || e.TRUST_PROXY === '1',
  }
}

/**
 * The database pool of a hub process: DATABASE_POOL_SIZE, or four connections per CPU for the API (at most 64) and,
 * when the process runs the worker, two per job it runs at once (a job may hold a transaction and ask for another
 * connection) and one that listens for new jobs. More connections do not make the API faster: measured with
 * bench:checkout on two cores, 20 connections for the API cost the database server about 15 % more CPU per sale than
 * 8 (backends contending for the same pages and locks), for no more sales.
 */
export function poolSizeFor(config: Config, parts: { api: boolean; worker: boolean }, cpus: number): number {
  if (config.databasePoolSize !== undefined) return config.databasePoolSize
  const api = parts.api ? Math.min(64, Math.max(4, 4 * cpus)) : 0
  const worker = parts.worker ? 2 * config.workerConcurrency + 1 : 0
  return api + worker
}
