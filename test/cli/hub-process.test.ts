import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { lastJsonLine, runCli, startServe, startWorkerProcess, waitForHealth, type Running } from '../helpers/processes.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.ts'

const tmpDirs: string[] = []
const running: Running[] = []
const dataDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-test-'))
  tmpDirs.push(d)
  return d
}
afterAll(async () => {
  for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM')
  await Promise.all(running.map((r) => r.exited))
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true })
})

const postmasterPid = (dir: string) => {
  try {
    return Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0])
  } catch {
    return undefined
  }
}
const alive = (pid: number | undefined) => {
  if (!pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function signIn(port: number, email: string, password: string) {
  const r = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  return { status: r.status, body: (await r.json()) as any }
}

// Whole processes with their own embedded database: slow on a loaded machine, so a generous per-test limit.
describe('the hub as a process', { timeout: 120_000 }, () => {
  it('starts on an empty data dir with its own database, takes an admin from the CLI while running, and signs in', async () => {
    const dir = dataDir()
    const hub = await startServe({ TILLBRIDGE_DATA_DIR: dir })
    running.push(hub)
    expect((await waitForHealth(hub.port)).status).toBe(200)

    const created = await runCli(['admin', 'create', '--merchant', '测试商户', '--email', 'owner@example.com', '--password', 'secret-pass-1', '--json'], { TILLBRIDGE_DATA_DIR: dir })
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    const ids = lastJsonLine(created.stdout)
    expect(ids).toMatchObject({ merchantId: expect.any(String), userId: expect.any(String) })

    const login = await signIn(hub.port, 'owner@example.com', 'secret-pass-1')
    expect(login.status).toBe(200)
    const me = await fetch(`http://127.0.0.1:${hub.port}/api/v1/me`, { headers: { authorization: `Bearer ${login.body.token}` } })
    const meBody = (await me.json()) as any
    expect(meBody.principal.id).toBe(ids.userId)
    expect(meBody.merchant).toMatchObject({ id: ids.merchantId, name: '测试商户' })
    // A new merchant has China's VAT categories, so that its first product can be created at once.
    const taxes = (await (await fetch(`http://127.0.0.1:${hub.port}/api/v1/tax-categories`, { headers: { authorization: `Bearer ${login.body.token}` } })).json()) as any
    expect(taxes.items.map((t: any) => [t.code, t.rateBp])).toEqual([
      ['exempt', 0],
      ['reduced', 900],
      ['services', 600],
      ['standard', 1300],
    ])
    const anonymous = await fetch(`http://127.0.0.1:${hub.port}/api/v1/me`)
    expect(anonymous.status).toBe(401)
    expect(((await anonymous.json()) as any).error.code).toBe('unauthenticated')

    // In embedded mode the secret key is generated once into the data dir, readable by its owner only.
    expect(fs.statSync(path.join(dir, 'secret.key')).mode & 0o077).toBe(0)

    // SIGTERM: stops cleanly, and stops the database it started.
    const pgPid = postmasterPid(dir)
    expect(alive(pgPid)).toBe(true)
    hub.child.kill('SIGTERM')
    expect(await hub.exited, hub.output()).toEqual({ code: 0, signal: null })
    expect(alive(pgPid)).toBe(false)
    expect(hub.output()).toContain('"msg":"stopped"')
  })

  it('restarts cleanly on the same data dir after SIGKILL, with its data', async () => {
    const dir = dataDir()
    const first = await startServe({ TILLBRIDGE_DATA_DIR: dir })
    running.push(first)
    expect((await waitForHealth(first.port)).status).toBe(200)
    expect((await runCli(['admin', 'create', '--merchant', 'K', '--email', 'k@example.com', '--password', 'secret-pass-1'], { TILLBRIDGE_DATA_DIR: dir })).code).toBe(0)

    first.child.kill('SIGKILL')
    await first.exited
    const second = await startServe({ TILLBRIDGE_DATA_DIR: dir })
    running.push(second)
    expect((await waitForHealth(second.port)).status).toBe(200)
    expect((await signIn(second.port, 'k@example.com', 'secret-pass-1')).status).toBe(200)
    second.child.kill('SIGTERM')
    expect((await second.exited).code, second.output()).toBe(0)
  })

  it('runs two hubs with two data dirs side by side', async () => {
    const [a, b] = await Promise.all([startServe({ TILLBRIDGE_DATA_DIR: dataDir() }), startServe({ TILLBRIDGE_DATA_DIR: dataDir() })])
    running.push(a, b)
    expect(a.port).not.toBe(b.port)
    const [ha, hb] = await Promise.all([waitForHealth(a.port), waitForHealth(b.port)])
    expect([ha.status, hb.status]).toEqual([200, 200])
  })

  it('a worker process serves /health and /metrics on METRICS_PORT, with the jobs it ran', async () => {
    const db = await createTestDatabase()
    try {
      const worker = await startWorkerProcess({ DATABASE_URL: db.url, TILLBRIDGE_DATA_DIR: dataDir(), METRICS_TOKEN: 'scrape-token-0123456789' })
      running.push(worker)
      expect((await waitForHealth(worker.port)).status).toBe(200)
      const scrape = async (token = 'scrape-token-0123456789') => {
        const r = await fetch(`http://127.0.0.1:${worker.port}/metrics`, { headers: { authorization: `Bearer ${token}` } })
        return { status: r.status, text: await r.text() }
      }
      expect((await scrape('a-wrong-token-0123456789')).status).toBe(401)
      // Only operations here: the API is served by `api` processes.
      expect((await fetch(`http://127.0.0.1:${worker.port}/api/v1/me`)).status).toBe(404)

      const c = new pg.Client({ connectionString: db.url })
      await c.connect()
      try {
        await c.query(`select graphile_worker.add_job('maintenance.purge', '{}'::json)`)
      } finally {
        await c.end()
      }
      const ran = /tillbridge_jobs_total\{task="maintenance\.purge",outcome="success"\} 1/
      const deadline = Date.now() + 30_000
      let last = await scrape()
      while (!ran.test(last.text) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200))
        last = await scrape()
      }
      expect(last.status).toBe(200)
      expect(last.text).toMatch(ran)
      expect(last.text).toMatch(/^tillbridge_queue_depth\{task="maintenance\.purge"\} 0$/m)
      expect(last.text).toMatch(/^tillbridge_database_up 1$/m)
      worker.child.kill('SIGTERM')
      expect((await worker.exited).code).toBe(0)
    } finally {
      await db.drop()
    }
  })
})

describe('migrations', () => {
  it('processes starting together against one database migrate it exactly once', async () => {
    const db = await createTestDatabase({ empty: true })
    try {
      const results = await Promise.all([1, 2, 3].map(() => runCli(['migrate'], { DATABASE_URL: db.url, TILLBRIDGE_DATA_DIR: dataDir() })))
      expect(results.map((r) => [r.code, r.stderr])).toEqual([
        [0, ''],
        [0, ''],
        [0, ''],
      ])
      const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8'))
      const c = new pg.Client({ connectionString: db.url })
      await c.connect()
      try {
        const ours = await c.query('select count(*)::int as n from drizzle.__drizzle_migrations')
        expect(ours.rows[0].n).toBe(journal.entries.length)
        const worker = await c.query('select count(*)::int as n, count(distinct id)::int as d from graphile_worker.migrations')
        expect(worker.rows[0].n).toBe(worker.rows[0].d)
        expect(worker.rows[0].n).toBeGreaterThan(0)
      } finally {
        await c.end()
      }
    } finally {
      await db.drop()
    }
  })
})

describe('command-line errors', () => {
  it('a wrong flag is one line on stderr and exit 2, never a stack trace', async () => {
    const r = await runCli(['serve', '--prot', '80'])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/unknown option '--prot'/)
  })

  it('a bad value of a flag or variable is named, with exit 2', async () => {
    const flag = await runCli(['serve', '--port', 'eighty'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toMatch(/--port.*must be a port number/)
    const env = await runCli(['migrate'], { LOG_LEVEL: 'loud' })
    expect(env.code).toBe(2)
    expect(env.stderr.trim()).toBe('tillbridge: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")')
  })

  it('a failing command reports the reason in one line, exit 1', async () => {
    const r = await runCli(['migrate'], { DATABASE_URL: 'postgres://nobody:pw-9@127.0.0.1:1/none' })
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^tillbridge: error: .*ECONNREFUSED/)
    expect(r.stderr).not.toContain('pw-9')
  })

  it('every command has --help', { timeout: 120_000 }, async () => {
    const commands = [['serve'], ['api'], ['worker'], ['migrate'], ['admin', 'create'], ['reconcile', 'run'], ['vouchers', 'build'], ['vouchers', 'export'], ['campaigns', 'send']]
    const results = await Promise.all(commands.map((cmd) => runCli([...cmd, '--help'])))
    commands.forEach((cmd, i) => {
      expect(results[i]!.code).toBe(0)
      expect(results[i]!.stdout).toContain(`Usage: tillbridge ${cmd.join(' ')}`)
    })
  })
})
