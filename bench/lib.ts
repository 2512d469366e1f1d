// Shared pieces of the benchmarks: a database server to measure on, pgbench as the reference, a hub process to
// drive over HTTP, load generators and percentiles.
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { createLogger } from '../src/lib/logger.ts'
import { openEmbeddedDatabase, ensureDatabase } from '../src/db/embedded.ts'

const run = promisify(execFile)
export const logger = createLogger({ level: 'warn' })

export interface BenchDb {
  adminUrl: string
  urlFor(db: string): string
  close(): Promise<void>
}

/**
 * WAL room for bulk writes. With PostgreSQL's defaults (max_wal_size 1GB) a million-row bill and its items fill the
 * WAL every 12 to 25 seconds and the server logs "checkpoints are occurring too frequently"; every checkpoint makes the
 * next change of each page write the whole page again. Its own advice is a larger max_wal_size, as a deployment
 * that imports such bills would set.
 */
const BULK_WAL = { max_wal_size: '4GB', checkpoint_timeout: '15min' }

/**
 * Buffers for a day's bill and its matching together. With 256MB, the import's freshly written lines filled them, and
 * the run's item inserts had to write those pages out (flushing the WAL first) to get room: 9.1 s for a million items
 * instead of 7.3 s. A gigabyte is what a deployment on a machine of this size (24GB) would give it, and less than the
 * quarter of memory PostgreSQL's own guidance starts from.
 */
const BUFFERS = { shared_buffers: '1GB' }

/** The server to measure on: DATABASE_URL's, or an embedded one in a fresh temporary data dir (durable settings). */
export async function benchDatabase(opts: { statements?: boolean } = {}): Promise<BenchDb> {
  const withDb = (url: string, db: string) => {
    const u = new URL(url)
    u.pathname = `/${db}`
    return u.toString()
  }
  if (process.env.DATABASE_URL) {
    return { adminUrl: process.env.DATABASE_URL, urlFor: (db) => withDb(process.env.DATABASE_URL!, db), close: async () => {} }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-bench-'))
  // With --statements, the statements that triggers run count too (track all), and the trigger functions' own time.
  const stats: Record<string, string> = opts.statements
    ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_planning': 'on', 'pg_stat_statements.track': 'all', track_functions: 'pl' }
    : {}
  const emb = await openEmbeddedDatabase({ dataDir: dir, logger, database: 'postgres', settings: { max_connections: '300', ...BUFFERS, ...BULK_WAL, ...stats } })
  const close = async () => {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await emb.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  // A bench stopped midway (Ctrl-C, a timeout) stops its server too: one left running would weigh on every later
  // measurement on this machine.
  const interrupted = (signal: NodeJS.Signals) => {
    void close().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  return { adminUrl: emb.url, urlFor: (db) => withDb(emb.url, db), close }
}

export async function freshDatabase(db: BenchDb, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: db.adminUrl })
  await c.connect()
  await c.query(`drop database if exists "${name}" with (force)`)
  await c.end()
  await ensureDatabase(db.adminUrl, name)
  return db.urlFor(name)
}

export function pgbenchPath(): string {
  const candidates = [process.env.PGBENCH, '/usr/lib/postgresql/15/bin/pgbench', '/usr/lib/postgresql/16/bin/pgbench', '/usr/lib/postgresql/17/bin/pgbench', 'pgbench']
  for (const c of candidates) if (c && (c === 'pgbench' || fs.existsSync(c))) return c
  return 'pgbench'
}

/**
 * pgbench's built-in TPC-B-like script against a fresh database on the same server; returns transactions per second
 * and, given a CPU meter of the server, the server's CPU time per transaction.
 */
export async function pgbenchTps(
  db: BenchDb,
  opts: { clients: number; seconds: number; scale?: number; serverCpu?: CpuMeter | null },
): Promise<{ tps: number; command: string; serverCpuMsPerTxn: number | null }> {
  const url = await freshDatabase(db, 'pgbench_ref')
  const bin = pgbenchPath()
  await run(bin, ['-i', '-q', '-s', String(opts.scale ?? 10), url], { maxBuffer: 1 << 24 })
  const args = ['-c', String(opts.clients), '-j', '2', '-T', String(opts.seconds), '-n', url]
  const before = opts.serverCpu?.()
  const { stdout } = await run(bin, args, { maxBuffer: 1 << 24 })
  const used = before == null ? null : await cpuSince(opts.serverCpu!, before)
  const m = /tps = ([\d.]+)/.exec(stdout)
  const n = /number of transactions actually processed: (\d+)/.exec(stdout)
  if (!m) throw new Error(`could not read pgbench output:\n${stdout}`)
  return {
    tps: Number(m[1]),
    command: `pgbench -c ${opts.clients} -j 2 -T ${opts.seconds} -n (tpcb-like, scale ${opts.scale ?? 10})`,
    serverCpuMsPerTxn: used === null || !n ? null : (used * 1000) / Number(n[1]),
  }
}

/** CPU seconds (user + system) used so far by a process, or a group of them; null where it cannot be read. */
export type CpuMeter = () => number | null

const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** utime, stime, cutime, cstime and the parent of a process, from /proc (Linux); undefined when it is gone or unknown. */
function procStat(pid: number): { own: number; children: number; ppid: number } | undefined {
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // Fields after the command name, which may hold spaces, start at the third: state, ppid, … utime is the 14th.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const n = (i: number) => Number(f[i - 3])
  return { own: (n(14) + n(15)) / TICKS, children: (n(16) + n(17)) / TICKS, ppid: n(4) }
}

/** The CPU time of one process (the hub, say). */
export function processCpu(pid: number | undefined): CpuMeter {
  return () => (pid === undefined ? null : (procStat(pid)?.own ?? null))
}

/**
 * The CPU time of a database server on this machine: its postmaster, every live process it started (backends, WAL
 * writer, checkpointer…) and those that have ended (counted in the postmaster's children's time once it reaps them).
 * Null when the server is not on this machine or there is no /proc.
 */
export async function serverCpu(url: string): Promise<CpuMeter> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  const backend = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid
  const postmaster = procStat(backend)?.ppid
  await c.end()
  const isServer = postmaster !== undefined && /postgres/.test(safeRead(`/proc/${postmaster}/cmdline`))
  if (!isServer) return () => null
  return () => {
    const root = procStat(postmaster)
    if (!root) return null
    let total = root.own + root.children
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      const s = procStat(Number(entry))
      if (s && s.ppid === postmaster) total += s.own
    }
    return total
  }
}

const safeRead = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

/** CPU seconds used since `before`, read once the processes that just ended have been reaped. */
export async function cpuSince(meter: CpuMeter, before: number | null): Promise<number | null> {
  if (before === null) return null
  await new Promise((r) => setTimeout(r, 200))
  const now = meter()
  return now === null ? null : now - before
}

export const BIN = fileURLToPath(new URL('../bin/tillbridge.js', import.meta.url))
/**
 * The young generation `npm start` and the Dockerfile give the hub (see the Dockerfile). HUB_PROF=<dir> also writes the
 * hub's V8 CPU profile there (node refuses --cpu-prof in NODE_OPTIONS).
 */
export const HUB_NODE_FLAGS = ['--max-semi-space-size=8', ...(process.env.HUB_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HUB_PROF}`] : [])]

/** Starts `tillbridge <command>` against a database and resolves once it listens. */
export function startHub(command: 'serve' | 'api', env: Record<string, string>): Promise<{ child: ChildProcess; port: number; stop(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    // With the node flags the hub runs with under `npm start` and in the Dockerfile (NODE_OPTIONS there).
    const child = spawn(process.execPath, [...HUB_NODE_FLAGS, BIN, command], { env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stderr!.on('data', (d) => (out += d))
    child.stdout!.on('data', (d) => {
      out += d
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out)
      if (m) {
        resolve({
          child,
          port: Number(m[1]),
          stop: () =>
            new Promise((r) => {
              child.once('exit', () => r())
              child.kill('SIGTERM')
            }),
        })
      }
    })
    child.once('exit', (code) => reject(new Error(`hub exited (${code}) before listening:\n${out}`)))
  })
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export interface LoadResult {
  done: number
  failed: number
  seconds: number
  perSecond: number
  p50: number
  p95: number
  p99: number
  errors: Record<string, number>
}

const summarize = (lat: number[], failed: number, seconds: number, errors: Record<string, number>): LoadResult => {
  lat.sort((a, b) => a - b)
  return {
    done: lat.length,
    failed,
    seconds,
    perSecond: lat.length / seconds,
    p50: percentile(lat, 50),
    p95: percentile(lat, 95),
    p99: percentile(lat, 99),
    errors,
  }
}

/** Closed loop: `clients` workers each send the next request as soon as the last one answered. */
export async function closedLoop(seconds: number, clients: number, send: (worker: number, i: number) => Promise<boolean | string>): Promise<LoadResult> {
  const lat: number[] = []
  const errors: Record<string, number> = {}
  let failed = 0
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const t = performance.now()
        const ok = await send(w, i)
        if (ok === true) lat.push(performance.now() - t)
        else {
          failed++
          const k = typeof ok === 'string' ? ok : 'failed'
          errors[k] = (errors[k] ?? 0) + 1
        }
      }
    }),
  )
  return summarize(lat, failed, (performance.now() - start) / 1000, errors)
}

/** Open loop: requests start at a fixed rate whatever the latency, so queueing shows in the percentiles. */
export async function openLoop(seconds: number, ratePerSecond: number, send: (i: number) => Promise<boolean | string>): Promise<LoadResult> {
  const lat: number[] = []
  const errors: Record<string, number> = {}
  let failed = 0
  const total = Math.floor(seconds * ratePerSecond)
  const start = performance.now()
  const inflight: Promise<void>[] = []
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / ratePerSecond
    const wait = due - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    inflight.push(
      (async () => {
        const t = performance.now()
        const ok = await send(i)
        if (ok === true) lat.push(performance.now() - Math.min(t, due + 1))
        else {
          failed++
          const k = typeof ok === 'string' ? ok : 'failed'
          errors[k] = (errors[k] ?? 0) + 1
        }
      })(),
    )
  }
  await Promise.all(inflight)
  return summarize(lat, failed, (performance.now() - start) / 1000, errors)
}

export const round1 = (n: number) => Math.round(n * 10) / 10

/** A keep-alive HTTP/1.1 client for one hub. */
export function httpClient(port: number, sockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets })
  return {
    request(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
        const req = http.request(
          { host: '127.0.0.1', port, method, path, agent, headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) } },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
            res.on('error', reject)
          },
        )
        req.on('error', reject)
        req.end(payload)
      })
    },
    close: () => agent.destroy(),
  }
}

/**
 * With --statements: where the database spent its time, per statement (pg_stat_statements, nested ones included), and
 * in each PL/pgSQL function such as a trigger's (pg_stat_user_functions).
 */
export async function topStatements(url: string, limit = 16): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const r = await c.query(`
      select calls, round(total_exec_time::numeric, 1) as exec_ms, round(total_plan_time::numeric, 1) as plan_ms,
             round(((total_exec_time + total_plan_time) / greatest(calls, 1))::numeric, 3) as per_call_ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) as query
        from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
       order by total_exec_time + total_plan_time desc limit $1`, [limit])
    console.table(r.rows)
    const f = await c.query(`
      select funcname, calls, round(total_time::numeric, 1) as total_ms, round((total_time / greatest(calls, 1))::numeric, 3) as per_call_ms
        from pg_stat_user_functions order by total_time desc limit $1`, [limit])
    console.table(f.rows)
  } finally {
    await c.end()
  }
}

export async function resetStatements(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  await c.query('create extension if not exists pg_stat_statements')
  await c.query('select pg_stat_statements_reset()')
  await c.query('select pg_stat_reset()')
  await c.end()
}
