import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, TEST_SECRET_KEY } from '../helpers/db.ts'
import { lastJsonLine, runCli } from '../helpers/processes.ts'
import { openDatabase, type Database } from '../../src/db/client.ts'
import { createLogger } from '../../src/lib/logger.ts'
import { login } from '../../src/core/staff/auth.ts'
import { addDays, businessDate } from '../../src/lib/time.ts'

// Two whole `tillbridge demo` runs against one fresh database: slow by nature (the first seeds a week of trade).
describe('tillbridge demo --no-serve', { timeout: 900_000 }, () => {
  let dbInfo: Awaited<ReturnType<typeof createTestDatabase>>
  let dir: string
  let env: Record<string, string>
  let client: pg.Client
  let first: { code: number | null; stdout: string; stderr: string }
  let second: { code: number | null; stdout: string; stderr: string }
  let firstCounts: Record<string, number>
  let result: { url: string | null; email: string; password: string; merchantId: string; seeded: boolean }

  const one = async <T = any>(q: string, params: unknown[] = []): Promise<T> => (await client.query(q, params)).rows[0] as T
  const counts = async (merchantId: string) => {
    const c = await one<Record<string, string>>(
      `select (select count(*) from merchants) as merchants,
              (select count(*) from products where merchant_id = $1) as products,
              (select count(*) from variants where merchant_id = $1) as variants,
              (select count(*) from sales where merchant_id = $1) as sales,
              (select count(*) from members where merchant_id = $1) as members,
              (select count(*) from connections where merchant_id = $1) as connections,
              (select count(*) from devices where merchant_id = $1) as devices,
              (select count(*) from vouchers where merchant_id = $1) as vouchers,
              (select count(*) from campaigns where merchant_id = $1) as campaigns`,
      [merchantId],
    )
    return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, Number(v)]))
  }

  beforeAll(async () => {
    dbInfo = await createTestDatabase()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-demo-'))
    env = { DATABASE_URL: dbInfo.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }
    client = new pg.Client({ connectionString: dbInfo.url })
    await client.connect()
    first = await runCli(['demo', '--no-serve', '--json'], env, 600_000)
    expect(first.code, first.stderr).toBe(0)
    result = lastJsonLine(first.stdout)
    firstCounts = await counts(result.merchantId)
    second = await runCli(['demo', '--no-serve', '--json'], env, 300_000)
  }, 900_000)

  afterAll(async () => {
    await client?.end()
    await dbInfo?.drop()
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  it('seeds once, prints the login as its last JSON line, and keeps the password in the data dir (0600)', async () => {
    expect(result).toMatchObject({ url: null, email: 'demo@tillbridge.local', seeded: true })
    expect(result.password.length).toBeGreaterThanOrEqual(12)
    expect(first.stdout).toContain('Everything here is a sandbox')
    const file = path.join(dir, 'demo-login.txt')
    expect(fs.readFileSync(file, 'utf8')).toContain(`password: ${result.password}`)
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    // Progress went to stderr, the result to stdout.
    expect(first.stderr).toMatch(/sales \d+\/\d+/)
    const db: Database = openDatabase(dbInfo.url, { logger: createLogger({ level: 'silent' }), max: 1 })
    try {
      const signedIn = await login(db.db, { email: result.email, password: result.password })
      expect(signedIn.user.merchantId).toBe(result.merchantId)
    } finally {
      await db.close()
    }
  })

  it('a second run finds the demo merchant and seeds nothing again', async () => {
    expect(second.code, second.stderr).toBe(0)
    const again = lastJsonLine(second.stdout)
    expect(again).toMatchObject({ merchantId: result.merchantId, email: result.email, password: result.password, seeded: false })
    expect(await counts(result.merchantId)).toEqual(firstCounts)
    expect(firstCounts).toMatchObject({ merchants: 1, campaigns: 1 })
  })

  it('seeded a catalog of a few hundred products in two stores, members, and sales on each of the last 7 days', async () => {
    expect(firstCounts.products).toBeGreaterThanOrEqual(200)
    expect(firstCounts.variants).toBeGreaterThan(firstCounts.products!)
    expect(firstCounts.members).toBeGreaterThanOrEqual(100)
    const stores = await client.query('select code, name from stores where merchant_id = $1 order by code', [result.merchantId])
    expect(stores.rows).toEqual([
      { code: 'HZ01', name: '杭州西湖店' },
      { code: 'SH01', name: '上海静安店' },
    ])
    const today = businessDate(new Date(), 'Asia/Shanghai')
    const days = await client.query<{ day: string; n: string; tenders: string[] }>(
      `select s.business_date::text as day, count(distinct s.id) as n, array_agg(distinct t.kind) as tenders
         from sales s join sale_tenders t on t.sale_id = s.id where s.merchant_id = $1 group by 1 order by 1`,
      [result.merchantId],
    )
    const byDay = new Map(days.rows.map((r) => [r.day, r]))
    for (let i = 1; i <= 7; i++) expect(Number(byDay.get(addDays(today, -i))?.n ?? 0), addDays(today, -i)).toBeGreaterThan(20)
    const tenders = new Set(days.rows.flatMap((r) => r.tenders))
    for (const kind of ['cash', 'card', 'wechat', 'alipay', 'stored_value']) expect(tenders).toContain(kind)
    // Weighed goods were sold by their scale labels, in grams.
    const weighed = await one<{ n: string }>(`select count(*) as n from sale_lines l join variants v on v.id = l.variant_id where v.merchant_id = $1 and v.price_per = 1000 and l.quantity > 1`, [result.merchantId])
    expect(Number(weighed.n)).toBeGreaterThan(0)
    const refunds = await one<{ n: string }>('select count(*) as n from refunds where merchant_id = $1', [result.merchantId])
    expect(Number(refunds.n)).toBeGreaterThan(0)
  })

  it('reconciled every day of WeChat Pay, Alipay and Stripe, finding the three planted exceptions among the matches', async () => {
    const runs = await client.query<{ connector_id: string; n: string }>(
      `select c.connector_id, count(distinct r.business_date) as n from recon_runs r join connections c on c.id = r.connection_id
        where r.merchant_id = $1 and r.status in ('balanced', 'exceptions') group by 1 order by 1`,
      [result.merchantId],
    )
    const perChannel = Object.fromEntries(runs.rows.map((r) => [r.connector_id, Number(r.n)]))
    // WeChat Pay and Alipay publish yesterday's bill at 09:00 in Shanghai: before that it is still to come.
    expect(perChannel.stripe).toBe(7)
    expect(perChannel.alipay).toBeGreaterThanOrEqual(6)
    expect(perChannel.wechatpay).toBeGreaterThanOrEqual(6)
    const outcomes = await client.query<{ outcome: string; n: string }>(`select outcome, count(*) as n from recon_items where merchant_id = $1 group by 1`, [result.merchantId])
    const by = Object.fromEntries(outcomes.rows.map((r) => [r.outcome, Number(r.n)]))
    expect(by).toMatchObject({ missing_in_channel: 1, amount_diff: 1, fee_diff: 1 })
    expect(by.matched).toBeGreaterThan(100)
    expect(first.stdout).toContain('Planted for the reconciliation dashboard')
  })

  it('exported a balanced voucher per store and day to the Kingdee sandbox', async () => {
    const v = await client.query<{ status: string; balanced: boolean; exported: string }>(
      `select v.status, v.total_debit = v.total_credit as balanced, (select count(*) from voucher_exports e where e.voucher_id = v.id and e.status = 'exported') as exported
         from vouchers v where v.merchant_id = $1`,
      [result.merchantId],
    )
    expect(v.rows).toHaveLength(14)
    expect(v.rows.every((r) => r.status === 'exported' && r.balanced && Number(r.exported) === 1)).toBe(true)
  })

  it('sent a member campaign by SMS and printed receipts on the simulated printers', async () => {
    const campaign = await one<{ status: string; accepted: string; connector_id: string }>(
      `select c.status, cn.connector_id, (select count(*) from campaign_deliveries d where d.campaign_id = c.id and d.status in ('accepted', 'delivered')) as accepted
         from campaigns c join connections cn on cn.id = c.connection_id where c.merchant_id = $1`,
      [result.merchantId],
    )
    expect(campaign).toMatchObject({ status: 'sent', connector_id: 'aliyun-sms' })
    expect(Number(campaign.accepted)).toBeGreaterThan(0)
    const jobs = await client.query<{ kind: string; action: string; n: string }>(
      `select d.kind, j.action, count(*) as n from device_jobs j join devices d on d.id = j.device_id where j.merchant_id = $1 and j.state = 'done' group by 1, 2`,
      [result.merchantId],
    )
    const done = Object.fromEntries(jobs.rows.map((r) => [`${r.kind}:${r.action}`, Number(r.n)]))
    expect(done['receipt_printer:print']).toBeGreaterThan(0)
    expect(done['kitchen_printer:print']).toBeGreaterThan(0)
    expect(done['cash_drawer:drawer']).toBeGreaterThan(0)
    expect(done['scale:weigh']).toBe(1)
  })

  it('bound the shops’ listings by SKU, and leaves every sandbox connection and device disabled once it stops', async () => {
    const listings = await client.query<{ connector_id: string; n: string }>(
      `select c.connector_id, count(*) as n from channel_listings l join connections c on c.id = l.connection_id where l.merchant_id = $1 and l.state = 'bound' group by 1`,
      [result.merchantId],
    )
    expect(Object.fromEntries(listings.rows.map((r) => [r.connector_id, Number(r.n) > 0]))).toEqual({ shopify: true, woocommerce: true, taobao: true })
    const orders = await one<{ n: string }>('select count(*) as n from channel_orders where merchant_id = $1', [result.merchantId])
    expect(Number(orders.n)).toBeGreaterThan(10)
    const conns = await client.query<{ name: string; enabled: boolean }>('select name, enabled from connections where merchant_id = $1', [result.merchantId])
    expect(conns.rows.length).toBeGreaterThan(10)
    expect(conns.rows.every((c) => c.name.startsWith('Sandbox · ') && !c.enabled)).toBe(true)
    const devices = await client.query<{ enabled: boolean }>('select enabled from devices where merchant_id = $1', [result.merchantId])
    expect(devices.rows.length).toBe(7)
    expect(devices.rows.some((d) => d.enabled)).toBe(false)
    // The run's API key is revoked on the way out.
    const keys = await one<{ n: string }>('select count(*) as n from api_keys where merchant_id = $1 and revoked_at is null', [result.merchantId])
    expect(Number(keys.n)).toBe(0)
  })
})
