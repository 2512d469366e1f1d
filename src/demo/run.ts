// `tillbridge demo`: the whole hub at work on this machine in a couple of minutes. Opens the hub as `serve` does
// (embedded PostgreSQL under the data dir unless DATABASE_URL says otherwise), starts a local sandbox of every third
// party, seeds a demo merchant through the public API, plays a week of trade into it, lets the worker reconcile,
// sync, export and send, then serves the dashboard until Ctrl-C.
//
// Run again, it finds the merchant (by its admin's email) and seeds nothing; sandboxes live in memory and get new
// ports each start, so it points the merchant's sandbox connections and devices at this run's and republishes what
// the vendors knew (the shops' listings, the channels' bills). On the way out it disables them again: the sandboxes
// stop with the demo, and a hub started later (`npm start`) must never call them.
import { randomBytes } from 'node:crypto'
import { AsyncLocalStorage } from 'node:async_hooks'
import fs from 'node:fs'
import path from 'node:path'
import { and, eq, sql } from 'drizzle-orm'
import { pino } from 'pino'
import type { Config } from '../lib/config.ts'
import { createLogger } from '../lib/logger.ts'
import { openHub, type Hub, type OpenedHub } from '../runtime.ts'
import { createApp } from '../http/app.ts'
import { UsageError } from '../cli/errors.ts'
import { listen, type HttpServer } from '../http/server.ts'
import { startWorker, type WorkerHandle } from '../jobs/worker.ts'
import { startBridgeLinks, type BridgeLinks } from '../devices/hub-link.ts'
import { enqueue } from '../db/enqueue.ts'
import { FETCH_TASK } from '../jobs/reconciliation.ts'
import { createMerchant } from '../core/merchants/service.ts'
import { merchants } from '../core/merchants/schema.ts'
import { users } from '../core/staff/schema.ts'
import { createApiKey, revokeApiKey } from '../core/staff/api-keys.ts'
import { createUser } from '../core/staff/users.ts'
import { recordAudit, listAudit } from '../core/staff/audit.ts'
import { systemActor } from '../core/staff/actor.ts'
import { startSandboxes, SANDBOX_PREFIX, type Sandboxes } from '../sandboxes/index.ts'
import { addDays, businessDate, startOfBusinessDay } from '../lib/time.ts'
import { demoApi, type DemoApi } from './client.ts'
import { CATEGORIES } from './catalog.ts'
import { DEMO_EMAIL, DEMO_MERCHANT, DEMO_STORES, DEMO_TIME_ZONE, seedSetup, type DemoSetup, type DemoStore, type Progress } from './seed.ts'
import { playWeek, weekDates } from './activity.ts'
import { publishBills, type PlantedExceptions } from './channels.ts'
import { configureStockSync, listingsOf, placeOnlineOrders, stockShops, type RemoteQuantity } from './shops.ts'
import { disableDevices, ensureDevices } from './devices.ts'
import { exportVouchers, openToday, sendCampaign } from './office.ts'

export interface DemoOptions {
  /** Port of the dashboard (default PORT or 3000; 0 picks a free one). */
  port?: number
  /** Serve the hub once seeded (false: seed and exit, for CI). */
  serve: boolean
  /** Print the result as one JSON line last. */
  json: boolean
  /** Past days of trade to play. */
  days: number
}

export interface DemoResult {
  url: string | null
  email: string
  password: string
  merchantId: string
  /** Whether this run seeded the merchant (false: it was there already). */
  seeded: boolean
}

const MARKER = 'demo.seeded'
const MARKETPLACES = ['shopify', 'woocommerce', 'taobao'] as const
const PAYMENT_FETCHERS = ['wechatpay', 'alipay', 'stripe'] as const
const LOGIN_FILE = 'demo-login.txt'

/**
 * Where the sandboxed shops are told to send webhooks. Shopify takes only https addresses, and the simulators never
 * call out anyway: the demo hands each shop's webhook to the hub itself. A real hub sets PUBLIC_URL.
 */
const SANDBOX_PUBLIC_URL = 'https://hub.tillbridge-demo.test'

let startedAt = Date.now()
const say = (line: string) => process.stderr.write(`demo: [${String(Math.round((Date.now() - startedAt) / 1000)).padStart(3)} s] ${line}\n`)

export async function runDemo(base: Config, opts: DemoOptions): Promise<DemoResult> {
  // A local demo listens on this machine only unless HOST says otherwise: its login is written in a file.
  const config: Config = { ...base, host: process.env.HOST ? base.host : '127.0.0.1', port: opts.port ?? base.port }
  startedAt = Date.now()
  // Progress lines tell the story; the hub's own log shows only errors unless LOG_LEVEL asks for more.
  const logger = createLogger({ level: process.env.LOG_LEVEL ? config.logLevel : 'error', destination: pino.destination(2) })
  say(config.databaseUrl ? 'opening the database (DATABASE_URL)' : `starting the embedded database under ${config.dataDir}`)
  const hub = await openHub(config, { logger, applicationName: 'tillbridge-demo', poolSize: 20 })
  try {
    hub.secrets.currentKeyId // a bad TILLBRIDGE_SECRET_KEY stops the demo now, not halfway through seeding
  } catch (e) {
    await hub.close()
    throw e
  }
  const run = new DemoRun(hub, config, opts)
  const stop = (signal: string) => void run.shutdown(signal)
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const result = await run.start()
    say('ready')
    printReady(result, config, run.planted, run.summary)
    if (!opts.serve) {
      await run.close()
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    return result
  } catch (e) {
    // Ctrl-C while seeding: the shutdown under way ends the process; what failed because of it is no news.
    if (run.stopping) return new Promise<never>(() => {})
    await run.close().catch((err: unknown) => logger.error({ err }, 'demo cleanup failed'))
    throw e
  }
}

class DemoRun {
  readonly hub: OpenedHub
  readonly config: Config
  readonly opts: DemoOptions
  /** Requests made inside `at(…)` see the hub's clock at that moment: the past week is played at its own times. */
  private readonly time = new AsyncLocalStorage<Date>()
  private worker?: WorkerHandle
  private server?: HttpServer
  private links?: BridgeLinks
  private sandboxes?: Sandboxes
  private api?: DemoApi
  private key?: { id: string; merchantId: string }
  private closing?: Promise<void>
  planted: PlantedExceptions = {}
  summary: string[] = []

  constructor(hub: OpenedHub, config: Config, opts: DemoOptions) {
    this.hub = hub
    this.config = config
    this.opts = opts
  }

  private at = <T>(when: Date, fn: () => Promise<T>) => this.time.run(when, fn)

  private progress: Progress = (step, done, total) => {
    if (done === undefined || total === undefined) return say(step)
    if (done === total || done % Math.max(1, Math.ceil(total / 8)) === 0) say(`${step} ${done}/${total}`)
  }

  async start(): Promise<DemoResult> {
    const hub = this.hub
    this.worker = await startWorker(hub)
    let url: string | null = null
    if (this.opts.serve) {
      // Listening before seeding: a busy port is reported now, not after two minutes of work.
      this.server = await listen(createApp(hub, { worker: this.worker }), { port: this.config.port, host: this.config.host }).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE') throw new UsageError(`port ${this.config.port} is in use (a hub or another demo?): stop it, or pick another with --port`)
        throw e
      })
      this.links = await startBridgeLinks(hub)
      this.links.attach(this.server.server)
      const shown = ['0.0.0.0', '::', '127.0.0.1'].includes(this.config.host) ? 'localhost' : this.config.host
      url = `http://${shown}:${this.server.port}`
    }
    if (!process.env.PUBLIC_URL) hub.config.publicUrl = SANDBOX_PUBLIC_URL
    say('starting the sandboxes (payment channels, shops, finance systems, SMS, devices)')
    this.sandboxes = await startSandboxes({ host: '127.0.0.1', hubUrl: url ?? `http://localhost:${this.config.port}` })
    this.sandboxes.registerStores(DEMO_STORES.map((s) => s.code))

    await this.parkInterrupted()
    const found = await this.findDemo()
    const merchantId = found?.merchantId ?? (await hub.database.db.transaction((tx) => createMerchant(tx, { name: DEMO_MERCHANT, currency: 'CNY', timeZone: DEMO_TIME_ZONE, locale: 'zh-CN' }))).id
    const token = await this.openKey(merchantId)
    // The seeding app shares the hub but reads the clock of the moment being played; the worker and the served
    // dashboard keep the wall clock.
    const seedHub: Hub = { ...hub, clock: () => this.time.getStore() ?? new Date() }
    this.api = demoApi(createApp(seedHub), token)

    const password = this.password()
    if (found) {
      say(`found the demo merchant (seeded ${found.seededAt}); pointing its sandbox connections and devices at this run's sandboxes`)
      await this.repoint(found.dates)
      await this.checkLogin(found.userId, password)
    } else {
      await this.seed(merchantId, password)
    }
    return { url: url ? `${url}/dashboard` : null, email: DEMO_EMAIL, password, merchantId, seeded: !found }
  }

  // ---- finding the demo ----------------------------------------------------------------------------------

  /** The demo merchant a previous run finished seeding: the one its admin's email belongs to. */
  private async findDemo(): Promise<{ merchantId: string; userId: string; seededAt: string; dates: string[] } | undefined> {
    const db = this.hub.database.db
    const [u] = await db.select({ id: users.id, merchantId: users.merchantId }).from(users).where(sql`lower(${users.email}) = ${DEMO_EMAIL}`)
    if (!u) return undefined
    const marks = await listAudit(db, { merchantId: u.merchantId, action: MARKER, limit: 1 })
    const mark = marks.items[0]
    const details = (mark?.details ?? {}) as { from?: string; to?: string }
    const dates: string[] = []
    if (details.from && details.to) for (let d = details.from; d <= details.to; d = addDays(d, 1)) dates.push(d)
    return { merchantId: u.merchantId, userId: u.id, seededAt: mark ? mark.at.toISOString().slice(0, 10) : 'earlier', dates }
  }

  /**
   * A run stopped while seeding leaves a merchant without the demo login. It is renamed "(interrupted)" and its
   * sandbox connections and devices disabled; this run seeds afresh.
   */
  private async parkInterrupted(): Promise<void> {
    const db = this.hub.database.db
    const orphans = await db
      .select({ id: merchants.id })
      .from(merchants)
      .where(and(eq(merchants.name, DEMO_MERCHANT), sql`not exists (select 1 from ${users} u where u.merchant_id = ${merchants.id} and lower(u.email) = ${DEMO_EMAIL})`))
    for (const o of orphans) {
      const token = await this.openKey(o.id)
      const api = demoApi(createApp(this.hub), token)
      await api.patch('/api/v1/merchant', { name: `${DEMO_MERCHANT} (interrupted ${new Date().toISOString().slice(0, 16).replace('T', ' ')})` })
      await disableConnections(api)
      await disableDevices(api)
      await this.closeKey()
      say('set aside a demo merchant whose seeding was interrupted; seeding a new one')
    }
  }

  /** An API key for this run (an integrator's script uses one), expiring in two days if the run never revokes it. */
  private async openKey(merchantId: string): Promise<string> {
    const { key, apiKey } = await this.hub.database.db.transaction((tx) =>
      createApiKey(tx, systemActor(merchantId, 'tillbridge demo'), { name: `tillbridge demo ${new Date().toISOString()}`, role: 'admin', expiresAt: new Date(Date.now() + 2 * 86_400_000) }),
    )
    this.key = { id: apiKey.id, merchantId }
    return key
  }

  private async closeKey(): Promise<void> {
    const k = this.key
    if (!k) return
    this.key = undefined
    await this.hub.database.db.transaction((tx) => revokeApiKey(tx, systemActor(k.merchantId, 'tillbridge demo'), k.id)).catch(() => undefined)
  }

  // ---- the login --------------------------------------------------------------------------------------------

  /** The demo login's password: generated once and kept (0600) in the data dir, where the README says it is. */
  private password(): string {
    const file = path.join(this.config.dataDir, LOGIN_FILE)
    try {
      const m = /^password:\s*(\S+)\s*$/m.exec(fs.readFileSync(file, 'utf8'))
      if (m) return m[1]!
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    const password = randomBytes(12).toString('base64url')
    fs.mkdirSync(this.config.dataDir, { recursive: true })
    fs.writeFileSync(
      file,
      `# The Tillbridge demo's login (npm run demo). It opens sandbox data on this machine only.\nemail: ${DEMO_EMAIL}\npassword: ${password}\n`,
      { mode: 0o600 },
    )
    return password
  }

  /** The login file may be newer than the database (or the other way round): the file's password wins. */
  private async checkLogin(userId: string, password: string): Promise<void> {
    const r = await this.api!.request('POST', '/api/v1/auth/login', { email: DEMO_EMAIL, password }, { token: null })
    if (r.status === 200) return
    await this.api!.patch(`/api/v1/users/${userId}`, { password, unlock: true })
    say(`reset the demo login's password to the one in ${path.join(this.config.dataDir, LOGIN_FILE)}`)
  }

  // ---- seeding ----------------------------------------------------------------------------------------------

  private async seed(merchantId: string, password: string): Promise<void> {
    const api = this.api!
    const sandboxes = this.sandboxes!
    const now = new Date()
    const dates = weekDates(now, this.opts.days)
    const opening = dates[0] ?? businessDate(now, DEMO_TIME_ZONE)
    // The shop opened the day before the week: that is when the catalog, stock and members were set up.
    const setupAt = new Date(startOfBusinessDay(addDays(opening, -1), DEMO_TIME_ZONE).getTime() + 8 * 3600_000)
    const setup = await this.at(setupAt, () => seedSetup(api, this.progress))

    this.progress('sandbox connections')
    const ids = await ensureConnections(api, sandboxes, { heldBack: [...MARKETPLACES] })
    const levels = await stockLevels(api)
    const world = stockShops(sandboxes, setup.stores, listingsOf(setup.sellables), remoteFrom(levels, setup.stores))
    await configureStockSync(api, { shopify: ids.shopify!, woocommerce: ids.woocommerce!, taobao: ids.taobao! }, setup.stores, world)
    // Enabling a shop's connection makes the hub import its listings, bind them by SKU and push its quantities.
    for (const m of MARKETPLACES) await api.patch(`/api/v1/connections/${ids[m]}`, { enabled: true })
    await this.settle('listings imported and stock pushed to the shops')

    const week = await playWeek(api, setup, { days: this.opts.days, now, at: this.at, progress: this.progress })
    this.progress('online orders')
    const orders = await placeOnlineOrders(api, sandboxes, { shopify: ids.shopify!, woocommerce: ids.woocommerce!, taobao: ids.taobao! }, world, dates)
    await this.settle('online orders taken and stock pushed')

    this.planted = await publishBills(this.hub, sandboxes, merchantId, dates)
    await this.reconcile(merchantId, ids, dates)
    const vouchers = await exportVouchers(api, setup.stores, dates, ids.kingdee!, this.progress)
    const campaign = await sendCampaign(api, setup, ids['aliyun-sms']!, now)
    const devices = await ensureDevices(api, sandboxes, setup.stores, setup.categoryIds[CATEGORIES.deli], ids.stripe!)
    const today = await openToday(api, setup, devices.scale)
    await this.settle('vouchers exported, campaign sent, receipts printed')

    // The login comes last, with the mark saying the seeding finished, in one transaction: a run stopped before
    // this point leaves no login, and the next run sets its merchant aside.
    await this.hub.database.db.transaction(async (tx) => {
      const actor = systemActor(merchantId, 'tillbridge demo')
      await createUser(tx, actor, { email: DEMO_EMAIL, name: 'Demo 演示', role: 'admin', password })
      await recordAudit(tx, actor, { action: MARKER, entityType: 'merchant', entityId: merchantId, details: { from: dates[0] ?? null, to: dates.at(-1) ?? null, days: this.opts.days } })
    })
    const results = (await api.get<{ results?: { counts: Record<string, number> } }>(`/api/v1/campaigns/${campaign.id}`)).results
    const texted = Object.entries(results?.counts ?? {}).reduce((n, [status, count]) => n + (['accepted', 'delivered', 'sent'].includes(status) ? count : 0), 0)
    this.summary = [
      `${setup.productCount} products (${setup.sellables.length} SKUs) in ${setup.stores.length} stores, ${setup.members.length} members`,
      `${week.sales + today} sales over ${dates.length + 1} days, ${week.refunds} refunds, ${week.topups} stored-value top-ups, ${orders} online orders`,
      `${vouchers} vouchers exported to the Kingdee sandbox, an SMS campaign sent to ${texted} members`,
    ]
  }

  // ---- running again ----------------------------------------------------------------------------------------

  private async repoint(dates: string[]): Promise<void> {
    const api = this.api!
    const sandboxes = this.sandboxes!
    const stores = await demoStores(api)
    const sellables = await sellablesOf(api)
    // The shops' sandboxes start empty: list the same SKUs again, at the quantities the hub last saw on each shop.
    stockShops(sandboxes, stores, listingsOf(sellables), await remoteFromHub(api, stores))
    const ids = await ensureConnections(api, sandboxes, { heldBack: [] })
    const categories = (await api.get<{ items: { id: string; path: string }[] }>('/api/v1/categories')).items
    await ensureDevices(api, sandboxes, stores, categories.find((c) => c.path === CATEGORIES.deli)?.id, ids.stripe!)
    if (dates.length) {
      this.planted = await publishBills(this.hub, sandboxes, this.key!.merchantId, dates)
      await this.reconcile(this.key!.merchantId, ids, dates)
    }
    await this.settle('connections checked and shops audited')
  }

  // ---- jobs ------------------------------------------------------------------------------------------------

  /**
   * Fetches each day's statements as the hourly schedule would, a day at a time in order: what a day leaves open is
   * carried into the next days' runs, so the payment WeChat never settled ends up missing, not "timing".
   */
  private async reconcile(merchantId: string, ids: Record<string, string>, dates: string[]): Promise<void> {
    const db = this.hub.database.db
    for (const [i, date] of dates.entries()) {
      for (const connector of PAYMENT_FETCHERS) {
        const connectionId = ids[connector]
        if (!connectionId) continue
        const have = await this.api!.get<{ items: { status: string }[] }>(`/api/v1/reconciliation/statements?connectionId=${connectionId}&from=${date}&to=${date}`)
        if (have.items.some((s) => s.status === 'imported' || s.status === 'empty')) continue
        await enqueue(db, FETCH_TASK, { merchantId, connectionId, businessDate: date }, { jobKey: `${FETCH_TASK}:${connectionId}:${date}`, maxAttempts: 8 })
      }
      await this.settle()
      this.progress('reconciliation', i + 1, dates.length)
    }
  }

  /** Waits until the worker has run every job that is due (jobs waiting for a later time are left to it). */
  private async settle(what?: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const merchantId = this.key?.merchantId ?? null
    let quiet = 0
    while (Date.now() < deadline) {
      // The demo merchant's jobs and the ones for every merchant (the crontab's); other merchants' are theirs.
      const r = await this.hub.database.db.execute<{ n: number }>(sql`
        select count(*)::int as n from graphile_worker._private_jobs
         where attempts < max_attempts and run_at <= now() + interval '10 seconds'
           and (payload->>'merchantId' is null or payload->>'merchantId' = ${merchantId})`)
      quiet = r.rows[0]!.n === 0 ? quiet + 1 : 0
      if (quiet >= 2) {
        if (what) say(what)
        return
      }
      await new Promise((res) => setTimeout(res, 150))
    }
    say(`${what ?? 'jobs'}: some jobs are still running; the worker carries on with them`)
  }

  // ---- stopping ---------------------------------------------------------------------------------------------

  /** Leaves nothing pointing at the sandboxes, which stop now, then closes everything in order. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const budget = this.config.shutdownTimeoutMs
      if (this.api && this.key) {
        await disableConnections(this.api).catch((err: unknown) => this.hub.logger.warn({ err }, 'could not disable the sandbox connections'))
        await disableDevices(this.api).catch((err: unknown) => this.hub.logger.warn({ err }, 'could not disable the demo devices'))
      }
      await this.closeKey()
      await this.links?.close()
      await this.server?.close(budget)
      await this.worker?.stop(budget)
      await this.sandboxes?.close().catch((err: unknown) => this.hub.logger.warn({ err }, 'a sandbox did not close'))
      await this.hub.close()
    })()
    return this.closing
  }

  get stopping(): boolean {
    return this.closing !== undefined
  }

  async shutdown(signal: string): Promise<void> {
    if (this.closing) {
      say(`${signal} again: exiting now`)
      process.exit(1)
    }
    say(`${signal}: stopping (the sandbox connections and devices are disabled until the next demo)`)
    try {
      await this.close()
      process.exit(0)
    } catch (err) {
      this.hub.logger.error({ err }, 'demo shutdown failed')
      process.exit(1)
    }
  }
}

// ---- helpers over the API -----------------------------------------------------------------------------------

interface ConnectionRow {
  id: string
  connectorId: string
  name: string
  enabled: boolean
}

/**
 * Creates a connection for every sandbox, or points the existing one (found by name) at this run's sandbox and
 * enables it; `heldBack` connectors are created disabled, to be enabled once set up. Each is checked.
 */
async function ensureConnections(api: DemoApi, sandboxes: Sandboxes, opts: { heldBack: string[] }): Promise<Record<string, string>> {
  const existing = (await api.get<{ items: ConnectionRow[] }>('/api/v1/connections')).items
  const ids: Record<string, string> = {}
  for (const c of sandboxes.connections) {
    const found = existing.find((e) => e.name === c.name)
    ids[c.connectorId] = found
      ? (await api.patch<ConnectionRow>(`/api/v1/connections/${found.id}`, { config: c.config, enabled: true })).id
      : (await api.post<ConnectionRow>('/api/v1/connections', { connectorId: c.connectorId, name: c.name, config: c.config, enabled: !opts.heldBack.includes(c.connectorId) })).id
  }
  await Promise.all(Object.values(ids).map((id) => api.request('POST', `/api/v1/connections/${id}/test`)))
  return ids
}

async function disableConnections(api: DemoApi): Promise<void> {
  for (const c of (await api.get<{ items: ConnectionRow[] }>('/api/v1/connections')).items) {
    if (c.enabled && c.name.startsWith(SANDBOX_PREFIX)) await api.patch(`/api/v1/connections/${c.id}`, { enabled: false })
  }
}

async function demoStores(api: DemoApi): Promise<DemoStore[]> {
  const out: DemoStore[] = []
  for (const s of (await api.get<{ items: { id: string; code: string; name: string }[] }>('/api/v1/stores')).items) {
    if (!DEMO_STORES.some((d) => d.code === s.code)) continue
    const full = await api.get<{ locations: { id: string; isSaleDefault: boolean }[]; registers: { id: string }[] }>(`/api/v1/stores/${s.id}`)
    out.push({ id: s.id, code: s.code, name: s.name, locationId: full.locations.find((l) => l.isSaleDefault)!.id, registerId: full.registers[0]!.id })
  }
  return DEMO_STORES.map((d) => out.find((s) => s.code === d.code)!).filter(Boolean)
}

async function sellablesOf(api: DemoApi): Promise<DemoSetup['sellables']> {
  const { demoCatalog } = await import('./catalog.ts')
  const bySku = new Map(demoCatalog().flatMap((p) => p.variants.map((v) => [v.sku, { product: p, price: v.price }] as const)))
  const out: DemoSetup['sellables'] = []
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page: { items: { id: string; variants: { id: string; sku: string }[] }[]; nextCursor: string | null } = await api.get(`/api/v1/products?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    for (const p of page.items) for (const v of p.variants) {
      const known = bySku.get(v.sku)
      if (known) out.push({ sku: v.sku, variantId: v.id, productId: p.id, product: known.product, price: known.price })
    }
    cursor = page.nextCursor
  }
  return out
}

/** Available stock per SKU and location. */
async function stockLevels(api: DemoApi): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page: { items: { sku: string; locationId: string; available: number }[]; nextCursor: string | null } = await api.get(`/api/v1/stock/levels?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    for (const l of page.items) out.set(`${l.sku}@${l.locationId}`, l.available)
    cursor = page.nextCursor
  }
  return out
}

/** What the shops show before they are connected: a store's available stock, or both stores' for a shop with one location. */
const remoteFrom = (levels: Map<string, number>, stores: DemoStore[]): RemoteQuantity => (_shop, sku, storeCode) =>
  stores.filter((s) => !storeCode || s.code === storeCode).reduce((sum, s) => sum + Math.max(0, levels.get(`${sku}@${s.locationId}`) ?? 0), 0)

/** What the hub last saw (or wrote) on each shop, per SKU and remote location. */
async function remoteFromHub(api: DemoApi, stores: DemoStore[]): Promise<RemoteQuantity> {
  const connections = (await api.get<{ items: ConnectionRow[] }>('/api/v1/connections')).items
  const seen = new Map<string, number>()
  const storeOfRemote = new Map<string, string>()
  for (const shop of MARKETPLACES) {
    const c = connections.find((x) => x.connectorId === shop && x.name.startsWith(SANDBOX_PREFIX))
    if (!c) continue
    for (const l of (await api.get<{ items: { remoteLocationId: string; locationIds: string[] }[] }>(`/api/v1/stock-sync/${c.id}/locations`)).items) {
      const store = stores.find((s) => l.locationIds.includes(s.locationId))
      if (store && shop === 'shopify') storeOfRemote.set(store.code, l.remoteLocationId)
    }
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const page: { items: { sku: string; remoteLocationId: string | null; lastRemote: number | null; lastPushed: number | null; target: number | null }[]; nextCursor: string | null } = await api.get(
        `/api/v1/stock-sync/${c.id}/skus?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      )
      for (const i of page.items) seen.set(`${shop}:${i.sku}@${i.remoteLocationId ?? 'default'}`, i.lastRemote ?? i.lastPushed ?? i.target ?? 0)
      cursor = page.nextCursor
    }
  }
  return (shop, sku, storeCode) => seen.get(`${shop}:${sku}@${storeCode ? (storeOfRemote.get(storeCode) ?? '') : 'default'}`) ?? 0
}

// ---- the message --------------------------------------------------------------------------------------------

function printReady(r: DemoResult, config: Config, planted: PlantedExceptions, summary: string[]): void {
  const loginFile = path.join(config.dataDir, LOGIN_FILE)
  const lines = [
    '',
    r.seeded ? 'Tillbridge demo is ready.' : 'Tillbridge demo is ready (the demo merchant from an earlier run).',
    ...summary.map((s) => `  ${s}`),
    '',
    r.url ? `  Dashboard   ${r.url}` : '  Dashboard   (not served: --no-serve)',
    `  Email       ${r.email}`,
    `  Password    ${r.password}    (kept in ${loginFile})`,
    r.url ? `  API docs    ${r.url.replace(/\/dashboard$/, '/docs')}` : '',
    '',
    'Everything here is a sandbox: WeChat Pay, Alipay, Stripe, Shopify, WooCommerce, Taobao, Kingdee, Yonyou, QuickBooks,',
    'Xero, Aliyun SMS, Twilio, Mailchimp, WeChat and the printers, display, scale and card reader are simulators running',
    `in this process (connections named "${SANDBOX_PREFIX}…"). No real money, stock or message moves.`,
  ]
  if (planted.missing || planted.amountDiff || planted.feeDiff) {
    lines.push('', 'Planted for the reconciliation dashboard:')
    if (planted.missing) lines.push(`  ${planted.missing.day}  WeChat Pay never settled payment ${planted.missing.ref}`)
    if (planted.amountDiff) lines.push(`  ${planted.amountDiff.day}  Alipay settled payment ${planted.amountDiff.ref} ¥1.00 short`)
    if (planted.feeDiff) lines.push(`  ${planted.feeDiff.day}  WeChat Pay charged more than the contract's fee on ${planted.feeDiff.ref}`)
  }
  lines.push('', r.url ? 'Press Ctrl-C to stop.' : '')
  process.stdout.write(`${lines.filter((l, i, a) => l !== '' || a[i - 1] !== '').join('\n')}\n`)
}

