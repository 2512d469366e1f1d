// The newcomer's path: `tillbridge demo` as a process, its printed dashboard URL and login, every page the
// dashboard's navigation links to in a real Chromium, then Ctrl-C (SIGTERM) for a clean stop.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser } from 'playwright-core'
import { CHROMIUM } from '../helpers/browser.ts'
import { BIN } from '../helpers/processes.ts'
import { createTestDatabase, TEST_SECRET_KEY } from '../helpers/db.ts'

interface Demo {
  child: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `tillbridge demo --port 0` and resolves with what it printed once it says the dashboard is up. */
function startDemo(env: Record<string, string>, timeoutMs: number): Promise<Demo & { url: string; email: string; password: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'demo', '--port', '0'], { env: { ...process.env, LOG_LEVEL: '', PORT: '', HOST: '', PUBLIC_URL: '', ...env } })
    let out = ''
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })))
    const timer = setTimeout(() => reject(new Error(`the demo did not come up:\n${out}`)), timeoutMs)
    const onData = (d: Buffer) => {
      out += d
      const url = /Dashboard\s+(http:\/\/\S+\/dashboard)/.exec(out)?.[1]
      const email = /Email\s+(\S+@\S+)/.exec(out)?.[1]
      const password = /Password\s+(\S+)/.exec(out)?.[1]
      if (url && email && password && out.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer)
        resolve({ child, output: () => out, exited, url, email, password })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (d: Buffer) => (out += d))
    void exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`the demo exited (${code}) before serving:\n${out}`))
    })
  })
}

describe('npm run demo in a browser', { timeout: 900_000 }, () => {
  let dbInfo: Awaited<ReturnType<typeof createTestDatabase>>
  let dir: string
  let demo: Awaited<ReturnType<typeof startDemo>> | undefined
  let browser: Browser | undefined

  beforeAll(async () => {
    dbInfo = await createTestDatabase()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-demo-browser-'))
    demo = await startDemo({ DATABASE_URL: dbInfo.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }, 600_000)
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
  }, 900_000)

  afterAll(async () => {
    await browser?.close()
    if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
      demo.child.kill('SIGKILL')
      await demo.exited
    }
    await dbInfo?.drop()
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  it('prints the dashboard URL and a login that signs in, and every page of the navigation loads without an error', async () => {
    const d = demo!
    expect(d.email).toBe('demo@tillbridge.local')
    expect(d.output()).toContain('Everything here is a sandbox')
    // The demo listens on this machine only.
    const base = d.url.replace(/\/dashboard$/, '').replace('localhost', '127.0.0.1')

    const context = await browser!.newContext({ locale: 'zh-CN' })
    const page = await context.newPage()
    const errors: string[] = []
    // Chromium asks every site for /favicon.ico on its own; the hub has none, and that is not the page's error.
    const favicon = (url: string) => url !== '' && new URL(url).pathname === '/favicon.ico'
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !favicon(msg.location().url)) errors.push(`${page.url()}: ${msg.text()} (${msg.location().url})`)
    })
    page.on('response', (res) => {
      if (res.status() >= 400 && !favicon(res.url())) errors.push(`${res.status()} ${res.url()}`)
    })
    page.on('pageerror', (err) => errors.push(`${page.url()}: ${err.message}`))
    await page.goto(`${base}/dashboard`)
    expect(new URL(page.url()).pathname).toBe('/dashboard/login')
    await page.fill('#email', d.email)
    await page.fill('#password', d.password)
    await page.click('button[type=submit]')
    await page.waitForURL((u) => !u.pathname.startsWith('/dashboard/login'))

    const links = await page.locator('header a[href^="/dashboard"]').evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('href')!))])
    for (const expected of ['/dashboard', '/dashboard/reconciliation', '/dashboard/stock-sync', '/dashboard/vouchers', '/dashboard/campaigns', '/dashboard/devices']) expect(links).toContain(expected)
    for (const href of links) {
      const res = await page.goto(`${base}${href}`)
      expect(res?.status(), href).toBe(200)
      expect(new URL(page.url()).pathname, href).not.toBe('/dashboard/login')
      // The error page, or an error shown for a row (a SKU that failed to sync, a job that failed).
      const shownErrors = await page.locator('[data-testid=error]').evaluateAll((els) => els.map((e) => e.textContent?.trim() ?? '').filter(Boolean))
      expect(shownErrors, href).toEqual([])
      expect((await page.locator('main').textContent())?.trim().length ?? 0, href).toBeGreaterThan(50)
    }
    expect(errors).toEqual([])

    // The reconciliation page lists the days the demo reconciled, with the planted exceptions among them.
    await page.goto(`${base}/dashboard/reconciliation`)
    expect(await page.locator('main').textContent()).toMatch(/WeChat Pay|微信支付/)
    await context.close()
  })

  it('stops cleanly on SIGTERM, leaving its sandbox connections disabled', async () => {
    const d = demo!
    d.child.kill('SIGTERM')
    const { code } = await d.exited
    expect(code, d.output()).toBe(0)
    const client = new pg.Client({ connectionString: dbInfo.url })
    await client.connect()
    try {
      const r = await client.query<{ enabled: boolean }>(`select enabled from connections where name like 'Sandbox · %'`)
      expect(r.rows.length).toBeGreaterThan(10)
      expect(r.rows.some((c) => c.enabled)).toBe(false)
    } finally {
      await client.end()
    }
  })
})
