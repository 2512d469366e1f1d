// Helpers shared by the dashboard tests in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is ever downloaded): the app on a free port, the browser, screenshots and the login form.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, expect } from 'vitest'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { TestHub } from './db.ts'
import { createApp } from '../../src/http/app.ts'
import { listen, type HttpServer } from '../../src/http/server.ts'

export const CHROMIUM = '/usr/bin/chromium'
/** Set to a folder to keep a screenshot of each step (for looking at the pages). */
const SHOTS = process.env.DASHBOARD_SCREENSHOTS

async function waitForChromium(timeoutMs: number) {
  const deadline = Date.now() + timeoutMs
  while (!fs.existsSync(CHROMIUM)) {
    if (Date.now() > deadline) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)`)
    await new Promise((r) => setTimeout(r, 1000))
  }
}

export interface DashboardBrowser {
  /** The app's address, `http://127.0.0.1:<port>`. */
  readonly base: string
  readonly browser: Browser
  /** Keeps a full-page screenshot as `<shotPrefix><name>.png` in $DASHBOARD_SCREENSHOTS, when that is set. */
  shot(page: Page, name: string): Promise<void>
  /**
   * Opens `path` in a new browser context asking for `locale` (English by default: the sign-in form is in the
   * language the browser asks for), checks it is sent to the login form, and fills in `email` and `password` (the
   * form is not submitted).
   */
  openLogin(path: string, email: string, password: string, locale?: string): Promise<{ context: BrowserContext; page: Page }>
}

/**
 * Serves `createApp(hub)` on a free port and launches Chromium for the file's tests. `before` runs first in the same
 * beforeAll (the seeding), `after` last in the same afterAll, once the browser and the server are closed.
 */
export function useDashboardBrowser(hub: TestHub, opts: { shotPrefix?: string; before?: () => Promise<void>; after?: () => Promise<void> } = {}): DashboardBrowser {
  let server: HttpServer
  let browser: Browser
  let base: string

  beforeAll(async () => {
    await opts.before?.()
    server = await listen(createApp(hub), { port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${server.port}`
    await waitForChromium(30_000)
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await server?.close(1000)
    await opts.after?.()
  })

  return {
    get base() {
      return base
    },
    get browser() {
      return browser
    },
    async shot(page, name) {
      if (!SHOTS) return
      fs.mkdirSync(SHOTS, { recursive: true })
      await page.screenshot({ path: path.join(SHOTS, `${opts.shotPrefix ?? ''}${name}.png`), fullPage: true })
    },
    async openLogin(to, email, password, locale = 'en-US') {
      const context = await browser.newContext({ locale })
      const page = await context.newPage()
      await page.goto(`${base}${to}`)
      expect(new URL(page.url()).pathname).toBe('/dashboard/login')
      await page.fill('#email', email)
      await page.fill('#password', password)
      return { context, page }
    },
  }
}
