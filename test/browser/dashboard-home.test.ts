// The dashboard's home page in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no
// browser is ever downloaded): sign in and land on /dashboard, today's figures equal the sales rung up through the API,
// the SVG charts have one mark per hour, tender, store and day with data (and their screenshots really show them in
// the chart's colour), each section's numbers agree with its page, every link opens its page without an error, a
// cashier sees no finance section, and a merchant with nothing yet sees the empty states.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { PNG } from 'pngjs'
import { z } from 'zod'
import type { BrowserContext, Page } from 'playwright-core'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { useDashboardBrowser } from '../helpers/browser.ts'
import { seedCampaigns, type CampaignsState } from '../helpers/campaigns-dashboard.ts'
import { useTestHub, type TestHub } from '../helpers/db.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { seedReconDay, TZ, type ReconDay } from '../helpers/recon-dashboard.ts'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { importListings } from '../../src/core/channel-stock/listings.ts'
import { setLocationMap } from '../../src/core/channel-stock/setup.ts'
import { recordDeviceStatus } from '../../src/core/devices/registry.ts'
import { enqueue } from '../../src/db/enqueue.ts'
import type { DeviceStatus } from '../../src/devices/types.ts'
import { CHART_COLORS } from '../../src/http/dashboard/charts.ts'
import { defineTask } from '../../src/jobs/task.ts'
import { money } from '../../src/http/dashboard/layout.ts'
import { pick, withLocale } from '../../src/lib/i18n/context.ts'
import type { Locale } from '../../src/lib/i18n/locale.ts'
import { addDays } from '../../src/lib/time.ts'

const at = (date: string, time: string) => new Date(`${date}T${time}+08:00`)

const EXPORT_ERROR = 'Kingdee answered 503 Service Unavailable'
/** A voucher export the accounting system refuses every time: the job fails for good after its one attempt. */
const refusedExport = defineTask({
  name: 'test.export',
  payload: z.object({}).loose(),
  async run() {
    throw new Error(EXPORT_ERROR)
  },
})

const PRINTER_NAME = '<b>Till B</b> printer 收银打印机'

interface Sold {
  storeId: string
  hour: number
  total: number
  tenders: { kind: string; amount: number }[]
}

interface HomeState {
  day: ReconDay
  today: string
  yesterday: string
  stores: { a: string; b: string }
  shopConnectionId: string
  printerId: string
  /** Today's sales as the API answered them. */
  sold: Sold[]
  cashier: { email: string }
}

/**
 * A tea shop with yesterday's reconciled WeChat day (store A), a second store B, six sales today across both stores,
 * four tenders and four hours; a Shopify connection listing store B's tea; a receipt printer out of paper; yesterday's
 * voucher of store A built; a voucher export job that failed. The hub's clock stands at 21:30 today in Shanghai.
 */
async function seedHome(hub: TestHub): Promise<HomeState> {
  const day = await seedReconDay(hub)
  const { m, api } = day
  const db = hub.database.db
  const today = addDays(day.date, 1)

  // Store A is the reconciled store: its register, and the tea it sells at 1 fen a gram.
  const a = (await db.execute<{ store_id: string; register_id: string; sku: string }>(sql`
    select r.store_id, r.id as register_id, (select sku from variants where merchant_id = ${m.merchantId}) as sku
      from registers r where r.merchant_id = ${m.merchantId}`)).rows
  expect(a).toHaveLength(1)
  const storeA = { storeId: a[0]!.store_id, registerId: a[0]!.register_id, sku: a[0]!.sku }
  const b = await seedStore(hub, m.merchantId)
  const teaB = await seedProduct(hub, b, { name: 'Oolong 乌龙茶', price: 1, stock: 1_000_000 })

  // The accounting system refused an export: its job failed after its only attempt.
  await db.transaction((tx) => enqueue(tx, 'test.export', { merchantId: m.merchantId }, { maxAttempts: 1 }))
  await drainJobs(hub, { tasks: [refusedExport] })

  // A Shopify shop listing store B's oolong.
  const shop = await createConnection(
    db,
    connectorRegistry,
    hub.secrets,
    m.merchantId,
    { connectorId: 'shopify', name: 'Tea shop online 网店', config: { shop: 'tea-shop.myshopify.com', accessToken: 'shpat_0123456789abcdef0123456789abcdef', webhookSecret: 'shopify-app-secret-home' } },
    new Date(),
  )
  const ref = { merchantId: m.merchantId, connectionId: shop.id }
  await db.transaction(async (tx) => {
    await setLocationMap(tx, ref, [{ remoteLocationId: 'gid://shopify/Location/1', name: 'Shop warehouse', locationIds: [b.locationId] }], new Date())
    const imported = await importListings(tx, ref, [{ externalId: 'gid://shopify/InventoryItem/201', externalIds: { inventoryItemId: 'gid://shopify/InventoryItem/201' }, sku: teaB.sku, barcode: null, title: 'Oolong', tracked: true }], new Date())
    expect(imported).toMatchObject({ bound: 1 })
  })

  // Store B's receipt printer, out of paper.
  const printer = await api.post('/api/v1/devices', { storeId: b.storeId, registerId: b.registerId, name: PRINTER_NAME, kind: 'receipt_printer', driver: 'escpos_tcp', address: '192.168.2.50', paperWidth: 80 })
  expect(printer.status, JSON.stringify(printer.body)).toBe(201)
  const now = new Date()
  const paperEnd: DeviceStatus = { online: true, coverOpen: false, paper: 'end', drawerOpen: false, problem: 'paper_end', checkedAt: now.toISOString() }
  await db.transaction((tx) => recordDeviceStatus(tx, printer.body.id, paperEnd, now))

  // Yesterday's voucher of store A.
  const built = await api.post('/api/v1/vouchers/build', { date: day.date, storeId: storeA.storeId })
  expect(built.status, JSON.stringify(built.body)).toBe(200)
  expect(built.body.voucher.status).toBe('built')

  // Today's sales, at the till, hour by hour.
  const sold: Sold[] = []
  const sell = async (store: { storeId: string; registerId: string }, sku: string, time: string, tenders: { kind: string; amount: number }[]) => {
    hub.setNow(at(today, time))
    const quantity = tenders.reduce((n, t) => n + t.amount, 0)
    // Signed in at the hub's clock: today's hours may lie further from the real time than a session lasts.
    const r = await createApi(hub).as(await m.adminTokenNow()).post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity }], tenders })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.businessDate).toBe(today)
    sold.push({ storeId: store.storeId, hour: Number(time.slice(0, 2)), total: r.body.total + r.body.roundingAdjustment, tenders: r.body.tenders.map((t: any) => ({ kind: t.kind, amount: t.amount })) })
  }
  await sell(storeA, storeA.sku, '09:15:00', [{ kind: 'cash', amount: 3000 }])
  await sell(storeA, storeA.sku, '09:40:00', [{ kind: 'wechat', amount: 1250 }])
  await sell(storeA, storeA.sku, '14:05:00', [{ kind: 'card', amount: 4500 }])
  await sell(b, teaB.sku, '11:20:00', [{ kind: 'alipay', amount: 2000 }])
  await sell(b, teaB.sku, '14:30:00', [{ kind: 'cash', amount: 880 }])
  await sell(b, teaB.sku, '19:55:00', [
    { kind: 'cash', amount: 1000 },
    { kind: 'wechat', amount: 500 },
  ])
  hub.setNow(at(today, '21:30:00'))

  const cashier = await m.staff('cashier')
  return { day, today, yesterday: day.date, stores: { a: storeA.storeId, b: b.storeId }, shopConnectionId: shop.id, printerId: printer.body.id, sold, cashier }
}

/** Sums of `xs` by key. */
function sums<T>(xs: T[], key: (x: T) => string, value: (x: T) => number): Map<string, number> {
  const out = new Map<string, number>()
  for (const x of xs) out.set(key(x), (out.get(key(x)) ?? 0) + value(x))
  return out
}

/** The pixels of a PNG screenshot: how many differ from the top-left (background) one, distinct colours, and how many are exactly `hex`. */
function pixels(png: Buffer, hex: string) {
  const img = PNG.sync.read(png)
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))
  const d = img.data
  const colours = new Set<number>()
  let notBackground = 0
  let exact = 0
  for (let i = 0; i < d.length; i += 4) {
    colours.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!)
    if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) notBackground++
    if (d[i] === want[0] && d[i + 1] === want[1] && d[i + 2] === want[2]) exact++
  }
  return { total: img.width * img.height, width: img.width, height: img.height, colours: colours.size, notBackground, exact }
}

describe('the dashboard home page in Chromium', () => {
  const hub = useTestHub()
  let s: HomeState
  let camp: CampaignsState

  const ui = useDashboardBrowser(hub, {
    shotPrefix: 'home-',
    before: async () => {
      s = await seedHome(hub)
      camp = await seedCampaigns(hub)
    },
    after: async () => hub.setNow(undefined),
  })
  const { shot } = ui

  interface SignedIn {
    context: BrowserContext
    page: Page
    errors: string[]
    /** Text and money in the language the page is in (the user's or their merchant's). */
    t: (en: string, zh: string) => string
    yuan: (minor: number) => string
  }

  /** Signs in through the form with no page asked for, so the dashboard's home is where it lands; records console errors. */
  async function signIn(email: string, password: string): Promise<SignedIn> {
    const { context, page } = await ui.openLogin('/dashboard/login', email, password)
    const errors: string[] = []
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text())
    })
    page.on('pageerror', (err) => errors.push(err.message))
    await page.click('button[type=submit]')
    await page.waitForURL(`${ui.base}/dashboard`)
    const lang = (await page.locator('html').getAttribute('lang')) as Locale
    return { context, page, errors, t: (en, zh) => pick(en, zh, lang), yuan: (minor) => withLocale(lang, () => money(minor, 'CNY')) }
  }

  const sectionIds = (page: Page) => page.locator('main section[data-section]').evaluateAll((els) => els.map((e) => e.getAttribute('data-section')))

  it('lands on the home page after signing in, with today’s figures and a chart mark for each hour, tender, store and day', async () => {
    const { context, page, errors, t, yuan } = await signIn(s.day.m.adminEmail, s.day.m.password)
    expect(await page.title()).toContain(t('Home', '首页'))
    expect(await page.locator('[data-testid=today]').textContent()).toContain(s.today)
    expect(await sectionIds(page)).toEqual(['sales', 'reconciliation', 'stock-sync', 'vouchers', 'campaigns', 'devices', 'jobs'])

    // Today: the sum and count of the sales rung up; the week adds yesterday's reconciled day, as the reports API says.
    const todayTotal = s.sold.reduce((n, x) => n + x.total, 0)
    expect(todayTotal).toBeGreaterThan(0)
    expect(await page.locator('[data-testid=today-total]').textContent()).toBe(yuan(todayTotal))
    expect(await page.locator('[data-testid=today-count]').textContent()).toBe(String(s.sold.length))
    expect(await page.locator('[data-testid=today-refunds]').textContent()).toBe(yuan(0))
    const report = await createApi(hub).as(await s.day.m.adminTokenNow()).get(`/api/v1/reports/daily-sales?from=${addDays(s.today, -6)}&to=${s.today}`)
    expect(report.status, JSON.stringify(report.body)).toBe(200)
    const entries = report.body.entries as { storeId: string; businessDate: string; netSales: number; tenders: { kind: string; sales: number }[]; hours: { hour: number; amount: number }[] }[]
    const weekTotal = entries.reduce((n, e) => n + e.netSales, 0)
    expect(entries.filter((e) => e.businessDate === s.today).reduce((n, e) => n + e.netSales, 0)).toBe(todayTotal)
    expect(weekTotal).toBeGreaterThan(todayTotal)
    expect(await page.locator('[data-testid=week-total]').textContent()).toBe(yuan(weekTotal))

    // Sales by hour: one bar per hour that sold, its value the hour's sales.
    const byHour = sums(s.sold, (x) => String(x.hour), (x) => x.total)
    const hourBars = page.locator('#chart-hours svg rect.bar')
    expect(await hourBars.count()).toBe(byHour.size)
    for (const [hour, amount] of byHour) {
      const bar = page.locator(`#chart-hours rect.bar[data-key="${hour}"]`)
      expect(await bar.getAttribute('data-value')).toBe(String(amount))
      expect(await bar.locator('title').textContent()).toBe(`${hour.padStart(2, '0')}:00: ${yuan(amount)}`)
    }
    expect(await page.locator('#chart-hours svg text.value').allTextContents()).toEqual([...byHour.keys()].sort((x, y) => Number(x) - Number(y)).map((h) => yuan(byHour.get(h)!)))

    // By tender over the week (today's tenders and yesterday's WeChat), by store, and a point per day.
    const byTender = sums(entries.flatMap((e) => e.tenders), (t) => t.kind, (t) => t.sales)
    expect(byTender.get('alipay')).toBe(2000)
    expect(await page.locator('#chart-tenders svg rect.bar').count()).toBe(byTender.size)
    for (const [kind, amount] of byTender) expect(await page.locator(`#chart-tenders rect.bar[data-key="${kind}"]`).getAttribute('data-value')).toBe(String(amount))
    const byStore = sums(entries.filter((e) => e.netSales !== 0), (e) => e.storeId, (e) => e.netSales)
    expect([...byStore.keys()].sort()).toEqual([s.stores.a, s.stores.b].sort())
    expect(await page.locator('#chart-stores svg rect.bar').count()).toBe(2)
    for (const [store, amount] of byStore) expect(await page.locator(`#chart-stores rect.bar[data-key="${store}"]`).getAttribute('data-value')).toBe(String(amount))
    const points = page.locator('#chart-days svg circle.point')
    expect(await points.count()).toBe(7)
    expect(await page.locator(`#chart-days circle.point[data-key="${s.today}"]`).getAttribute('data-value')).toBe(String(todayTotal))
    const yesterdayTotal = entries.filter((e) => e.businessDate === s.yesterday).reduce((n, e) => n + e.netSales, 0)
    expect(await page.locator(`#chart-days circle.point[data-key="${s.yesterday}"]`).getAttribute('data-value')).toBe(String(yesterdayTotal))
    expect(await page.locator(`#chart-days circle.point[data-key="${addDays(s.today, -6)}"]`).getAttribute('data-value')).toBe('0')

    // Each chart is named for assistive technology and carries its numbers as a (visually hidden) table.
    for (const id of ['chart-hours', 'chart-days', 'chart-tenders', 'chart-stores']) {
      const svg = page.locator(`#${id} svg`)
      expect(await svg.getAttribute('role')).toBe('img')
      expect(await svg.getAttribute('aria-labelledby')).toBe(`${id}-title ${id}-desc`)
      expect(await page.locator(`#${id}-title`).textContent()).not.toBe('')
      const table = await page.locator(`#${id} [data-testid=chart-data]`).boundingBox()
      expect(table!.width * table!.height, id).toBeLessThanOrEqual(1)
    }
    expect(await page.locator('#chart-hours [data-testid=chart-data] tbody tr').count()).toBe(byHour.size)
    expect(await page.locator('#chart-tenders [data-testid=chart-data] tbody').textContent()).toContain(yuan(2000))
    await shot(page, '1-home')

    // The screenshot check: each chart as Chromium painted it is not blank and shows its marks in the chart's colour.
    const colours: Record<string, string> = { 'chart-hours': CHART_COLORS.hours, 'chart-days': CHART_COLORS.days, 'chart-tenders': CHART_COLORS.tenders, 'chart-stores': CHART_COLORS.stores }
    for (const [id, colour] of Object.entries(colours)) {
      const p = pixels(await page.locator(`#${id} svg`).screenshot(), colour)
      expect(p.width, id).toBeGreaterThan(300)
      expect(p.colours, id).toBeGreaterThan(8)
      expect(p.notBackground / p.total, id).toBeGreaterThan(0.02)
      // At least the area of a few small bars or dots in exactly the chart's colour.
      expect(p.exact, id).toBeGreaterThan(150)
    }
    // The colour is the bars' own: a bar is filled with it, text beside the charts has none of it.
    const hourBar = pixels(await page.locator(`#chart-hours rect.bar[data-key="${[...byHour.keys()][0]}"]`).screenshot(), CHART_COLORS.hours)
    expect(hourBar.exact / hourBar.total).toBeGreaterThan(0.7)
    expect(pixels(await page.locator('[data-testid=today]').screenshot(), CHART_COLORS.hours).exact).toBe(0)

    // Reconciliation: yesterday's run with its two open exceptions; stock sync: the listed oolong waiting to be pushed.
    const recon = page.locator(`#home-recon tr[data-connection="${s.day.connectionId}"]`)
    expect(await recon.textContent()).toContain(s.day.connectionName)
    expect(await recon.locator('.chip').getAttribute('data-status')).toBe('exceptions')
    expect(await recon.locator('[data-count=open]').textContent()).toBe('2')
    expect(await recon.locator('[data-testid=day]').textContent()).toBe(s.yesterday)
    const shop = page.locator(`#home-stock-sync tr[data-connection="${s.shopConnectionId}"]`)
    expect(await shop.locator('[data-count=pending]').textContent()).toBe('1')
    expect(await shop.locator('[data-count=error]').textContent()).toBe('0')
    expect(await shop.locator('[data-count=drift]').textContent()).toBe('0')

    // Vouchers: store A's yesterday built, store B has none; devices: the printer out of paper, its name as text.
    expect(await page.locator(`#home-vouchers tr[data-store="${s.stores.a}"] td[data-date="${s.yesterday}"] .chip`).getAttribute('data-status')).toBe('built')
    expect(await page.locator(`#home-vouchers tr[data-store="${s.stores.b}"] td[data-date="${s.yesterday}"] .chip`).getAttribute('data-status')).toBe('none')
    const printer = page.locator(`#home-devices tr[data-device="${s.printerId}"]`)
    expect(await printer.getAttribute('data-badge')).toBe('paper_end')
    expect(await printer.locator('th').textContent()).toBe(PRINTER_NAME)
    expect(await page.locator('#home-devices b, main script').count()).toBe(0)
    expect(await page.locator('[data-testid=devices-summary]').getAttribute('data-devices')).toBe('1')
    expect(await page.locator('[data-testid=devices-summary]').getAttribute('data-attention')).toBe('1')

    // The failed export job with its error; this merchant has no campaign yet.
    const job = page.locator('#home-jobs tbody tr')
    expect(await job.count()).toBe(1)
    expect(await job.locator('th').textContent()).toContain('test.export')
    expect(await job.locator('[data-testid=last-error]').textContent()).toContain(EXPORT_ERROR)
    expect(await page.locator('#home-campaigns').count()).toBe(0)
    expect(await page.locator('section[data-section=campaigns] [data-testid=empty]').textContent()).toBe(t('No campaign yet.', '尚无营销活动。'))

    // Every section's link opens its page, without an error; the header's Home link comes back.
    for (const id of ['reconciliation', 'stock-sync', 'vouchers', 'campaigns', 'devices', 'jobs']) {
      const response = page.waitForResponse((r) => r.url() === `${ui.base}/dashboard/${id}` && r.request().resourceType() === 'document')
      await page.click(`[data-testid=link-${id}]`)
      expect((await response).status(), id).toBe(200)
      await page.waitForURL(`${ui.base}/dashboard/${id}`)
      expect(await page.locator('p.alert-error[data-testid=error]').count(), id).toBe(0)
      expect(await page.locator('main h1').count(), id).toBe(1)
      await page.locator('header.top a[href="/dashboard"]', { hasText: t('Home', '首页') }).click()
      await page.waitForURL(`${ui.base}/dashboard`)
    }
    // The stock sync row opens its connection, the reconciliation day its day.
    await recon.locator('[data-testid=day]').click()
    await page.waitForURL(`${ui.base}/dashboard/reconciliation/${s.day.connectionId}/${s.yesterday}`)
    expect(await page.locator('#day-status .chip').getAttribute('data-status')).toBe('exceptions')
    await page.locator('header.top a strong', { hasText: 'Tillbridge' }).click()
    await page.waitForURL(`${ui.base}/dashboard`)
    await shop.locator('th a').click()
    await page.waitForURL(`${ui.base}/dashboard/stock-sync/${s.shopConnectionId}`)
    expect(await page.locator('#connection-title').textContent()).toContain('Tea shop online')

    expect(errors).toEqual([])
    await context.close()
  })

  it('shows the last campaigns with their sent, delivered and failed counts, as the campaigns page counts them', async () => {
    const { context, page, errors } = await signIn(camp.m.adminEmail, camp.m.password)
    const row = page.locator(`#home-campaigns tr[data-campaign="${camp.campaign.id}"]`)
    expect(await row.locator('[data-testid=name]').textContent()).toBe('Spring tea 春茶上新')
    const counts = { sent: '6', delivered: '2', failed: '1' }
    for (const [what, n] of Object.entries(counts)) expect(await row.locator(`[data-count="${what}"]`).textContent(), what).toBe(n)
    expect(await page.locator(`#home-campaigns tr[data-campaign="${camp.evil.id}"] [data-count=sent]`).textContent()).toBe('0')
    expect(await page.locator('#home-campaigns b, main script').count()).toBe(0)

    await row.locator('[data-testid=name]').click()
    await page.waitForURL(`${ui.base}/dashboard/campaigns/${camp.campaign.id}`)
    for (const [what, n] of Object.entries(counts)) expect(await page.locator(`#results [data-count="${what}"]`).textContent(), what).toBe(n)
    expect(errors).toEqual([])
    await context.close()
  })

  it('shows a cashier the home page without the finance, stock sync and jobs sections', async () => {
    const { context, page, errors } = await signIn(s.cashier.email, s.day.m.password)
    expect(await sectionIds(page)).toEqual(['campaigns', 'devices'])
    expect(await page.locator('[data-testid=today-total]').count()).toBe(0)
    expect(await page.locator('svg').count()).toBe(0)
    expect(await page.locator('main').textContent()).not.toContain(s.day.connectionName)
    expect(await page.locator(`#home-devices tr[data-device="${s.printerId}"]`).getAttribute('data-badge')).toBe('paper_end')
    await shot(page, '2-cashier')
    // The pages behind the hidden sections stay closed to the cashier.
    const refused = await page.goto(`${ui.base}/dashboard/reconciliation`)
    expect(refused!.status()).toBe(403)
    expect(errors.filter((e) => !e.includes('403'))).toEqual([])
    await context.close()
  })

  it('shows a merchant with nothing yet the empty states, in the merchant’s language and in the one a user picks', async () => {
    const empty = await seedMerchant(hub, { timeZone: TZ, currency: 'CNY', locale: 'zh-CN' })
    const { context, page, errors, yuan } = await signIn(empty.adminEmail, empty.password)
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN')
    expect(await page.locator('[data-testid=today-total]').textContent()).toBe(yuan(0))
    expect(await page.locator('[data-testid=week-total]').textContent()).toBe(yuan(0))
    const charts = ['chart-hours', 'chart-days', 'chart-tenders', 'chart-stores']
    for (const id of charts) {
      expect(await page.locator(`#${id}`).getAttribute('data-empty'), id).toBe('true')
      expect(await page.locator(`#${id} [data-testid=chart-empty]`).textContent(), id).toBe('暂无销售')
    }
    expect(await page.locator('main svg').count()).toBe(0)
    const emptyText = (id: string) => page.locator(`section[data-section="${id}"] [data-testid=empty]`).textContent()
    const states: Record<string, [string, string]> = {
      reconciliation: ['No payment channel is connected yet.', '尚未连接任何支付渠道。'],
      'stock-sync': ['No marketplace is connected yet.', '尚未连接任何电商平台。'],
      vouchers: ['No store yet.', '尚无门店。'],
      campaigns: ['No campaign yet.', '尚无营销活动。'],
      devices: ['No device is registered.', '尚未登记设备。'],
      jobs: ['No job has failed.', '没有失败的任务。'],
    }
    for (const [id, [, zh]] of Object.entries(states)) expect(await emptyText(id), id).toBe(zh)
    await shot(page, '3-empty')

    // The same page in English, once the user chooses it in the header.
    const language = page.locator('header select[name=locale]')
    await language.selectOption('en')
    await language.locator('xpath=following-sibling::button[1]').click()
    await expect.poll(() => page.locator('html').getAttribute('lang')).toBe('en')
    expect(new URL(page.url()).pathname).toBe('/dashboard')
    for (const id of charts) expect(await page.locator(`#${id} [data-testid=chart-empty]`).textContent(), id).toBe('No sales yet')
    for (const [id, [en]] of Object.entries(states)) expect(await emptyText(id), id).toBe(en)
    expect(errors).toEqual([])
    await context.close()
  })
})
