// Work that was waiting in the queue when a merchant was exported (queued jobs are not part of an archive) is queued
// again by the import, so a restored hub sends what the old one would have: pending outbound webhook deliveries, the
// fanout of events recorded just before the export, a day's reconciliation and a marketplace stock push. A copy made
// beside the original (--as-new-merchant) sends nothing to the original's vendors and receivers until a person says so.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer, type SetupServer } from 'msw/node'
import { http, HttpResponse } from 'msw'
import { createTestDatabase, hubOn, TEST_SECRET_KEY, useTestHub } from '../helpers/db.ts'
import { lastJsonLine, runCli } from '../helpers/processes.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs, queuedJobs, settleAll } from '../helpers/jobs.ts'
import { createShopifyConnection, SHOP, SHOP_SECRET, SHOP_TOKEN } from '../helpers/channels.ts'
import { shopifySandbox } from '../../src/sandboxes/vendors/shopify.ts'
import { syncListings } from '../../src/jobs/stock-sync.ts'
import { fanout } from '../../src/jobs/webhooks-outbound.ts'
import { exportMerchant } from '../../src/ops/backup/export.ts'
import { importArchive } from '../../src/ops/backup/import.ts'
import type { Hub } from '../../src/runtime.ts'

const RECEIVER = 'https://receiver.example/restored'

/**
 * A scratch directory for archives (and the msw server, when given) for a describe block, and `restore`: the
 * merchant exported from `from` and imported into a database of its own, closed after the block.
 */
function useRestores(prefix: string, server?: SetupServer) {
  const closers: (() => Promise<void>)[] = []
  const scratch = {
    dir: '',
    async restore(from: Hub, merchantId: string, name: string) {
      const file = path.join(scratch.dir, name)
      await exportMerchant(from, { merchantId, out: file })
      const target = await createTestDatabase()
      closers.push(target.drop)
      const there = hubOn(target.url)
      closers.push(there.close)
      return { there, r: await importArchive(there, { file }) }
    },
  }
  beforeAll(() => {
    server?.listen({ onUnhandledFrame: 'error' })
    scratch.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  })
  afterAll(async () => {
    server?.close()
    for (const c of closers.reverse()) await c()
    fs.rmSync(scratch.dir, { recursive: true, force: true })
  })
  return scratch
}

describe('an imported merchant picks up the work that was queued at export', { timeout: 300_000 }, () => {
  const hub = useTestHub()
  const received: { messageId: string; type: string }[] = []
  const server = setupServer(
    http.post(RECEIVER, async ({ request }) => {
      const body = JSON.parse(await request.text()) as { type: string }
      received.push({ messageId: request.headers.get('webhook-id')!, type: body.type })
      return HttpResponse.json({ ok: true })
    }),
  )
  const scratch = useRestores('tillbridge-restore-queues-', server)

  it('pending deliveries are sent, a scheduled retry keeps its time, and events not yet fanned out get their deliveries', async () => {
    const m = await seedMerchant(hub, { name: 'Restore queues' })
    const store = await seedStore(hub, m.merchantId, { code: 'RQ1' })
    const tea = await seedProduct(hub, store, { name: 'Tea', price: 1200, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const sub = await admin.post('/api/v1/webhook-subscriptions', { url: RECEIVER, eventTypes: ['sale.completed'] })
    expect(sub.status, JSON.stringify(sub.body)).toBe(201)
    const sell = async () => {
      const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: tea.sku }], tenders: [{ kind: 'cash', amount: 1200 }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
    }
    // Three sales fanned out (their sending left queued), one of them waiting for a retry tomorrow; one sale more
    // whose fanout is still queued at export.
    await sell()
    await sell()
    await sell()
    await drainJobs(hub, { tasks: [fanout], rounds: 3 })
    const pool = hub.database.pool
    const deliveries = (await pool.query<{ id: string; message_id: string }>(`select id, message_id from webhook_deliveries where merchant_id = $1 and status = 'pending' order by id`, [m.merchantId])).rows
    expect(deliveries).toHaveLength(3)
    const retryAt = new Date(Date.now() + 86_400_000)
    await pool.query(`update webhook_deliveries set attempts = 1, last_error = 'receiver answered HTTP 503', next_attempt_at = $2 where id = $1`, [deliveries[2]!.id, retryAt])
    await sell()
    expect((await queuedJobs(hub, 'webhooks.fanout')).length).toBeGreaterThan(0)

    const { there } = await scratch.restore(hub, m.merchantId, 'a.zip')

    await drainJobs(there)
    // Each pending delivery due now was sent once; the fourth sale got its delivery, sent too.
    const sent = received.map((r) => r.messageId).sort()
    expect(sent).toEqual([...new Set(sent)])
    expect(sent).toEqual(expect.arrayContaining([deliveries[0]!.message_id, deliveries[1]!.message_id]))
    expect(sent).not.toContain(deliveries[2]!.message_id)
    expect(sent).toHaveLength(3)
    const statuses = (await there.database.pool.query<{ status: string; n: number }>(`select status, count(*)::int as n from webhook_deliveries where merchant_id = $1 group by status order by status`, [m.merchantId])).rows
    expect(statuses).toEqual([
      { status: 'pending', n: 1 },
      { status: 'succeeded', n: 3 },
    ])
    // The retry waits for its own time, with a job to send it then.
    const waiting = await queuedJobs(there, 'webhooks.deliver')
    expect(waiting.map((j) => j.payload.deliveryId)).toEqual([deliveries[2]!.id])
    expect(Math.abs(waiting[0]!.runAt.getTime() - retryAt.getTime())).toBeLessThan(1000)
  })

  it('device work queued for a printer the hub drives wakes its runner on the restored hub', async () => {
    const m = await seedMerchant(hub, { name: 'Restore devices' })
    const store = await seedStore(hub, m.merchantId, { code: 'RQD' })
    const admin = createApi(hub).as(m.adminToken)
    const printer = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Front printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: '10.0.2.23', route: 'hub' })
    expect(printer.status, JSON.stringify(printer.body)).toBe(201)
    expect((await admin.post(`/api/v1/devices/${printer.body.id}/jobs`, { action: 'test_print' })).status).toBe(202)
    const { there } = await scratch.restore(hub, m.merchantId, 'd.zip')
    expect((await queuedJobs(there, 'device.run')).map((j) => j.payload)).toEqual([{ merchantId: m.merchantId, deviceId: printer.body.id }])
  })
})

describe('an imported merchant reconciles the day whose run was queued at export', { timeout: 300_000 }, () => {
  const hub = useTestHub()
  const scratch = useRestores('tillbridge-restore-recon-')
  const TZ = 'Asia/Shanghai'
  const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
  const MAPPING = { columns: { ourRef: '商户订单号', channelTxnId: '流水号', amount: '交易金额', fee: '手续费', time: '交易时间', store: '门店' } }
  const csv = (rows: string[][]) => Buffer.from(['交易时间,商户订单号,流水号,交易金额,手续费,门店', ...rows.map((r) => r.join(','))].join('\n') + '\n')

  it('a statement uploaded but not yet reconciled at export is reconciled on the restored hub', async () => {
    const m = await seedMerchant(hub, { timeZone: TZ })
    const store = await seedStore(hub, m.merchantId, { code: 'RQR', openedAt: at('2026-11-01 08:00:00') })
    const item = await seedProduct(hub, store, { price: 1000, stock: 100 })
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'mapped', name: 'bank', config: MAPPING })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const connectionId = conn.body.id as string
    hub.setNow(at('2026-11-10 10:00:00'))
    let paymentNo: string
    try {
      const s = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1000 }] })
      expect(s.status, JSON.stringify(s.body)).toBe(201)
      paymentNo = s.body.tenders[0].paymentNo
    } finally {
      hub.setNow(undefined)
    }
    const finance = createApi(hub).as((await m.staff('finance')).token)
    const upload = (day: string, rows: string[][]) =>
      finance.request('POST', `/api/v1/reconciliation/statements?connectionId=${connectionId}&date=${day}&fileName=${day}.csv`, undefined, { raw: csv(rows), headers: { 'content-type': 'text/csv' } })
    // A day reconciled before the export, and one whose run is still queued when the archive is written.
    expect((await upload('2026-11-09', [])).status).toBe(201)
    await drainJobs(hub)
    expect((await upload('2026-11-10', [['2026-11-10 10:00:01', paymentNo, 'B1', '10.00', '0.01', '']])).status).toBe(201)
    expect((await queuedJobs(hub, 'settlement.reconcile')).map((j) => j.payload.businessDate)).toEqual(['2026-11-10'])

    const { there } = await scratch.restore(hub, m.merchantId, 'r.zip')

    // Only the day that waited for its run is queued again.
    expect((await queuedJobs(there, 'settlement.reconcile')).map((j) => j.payload)).toEqual([{ merchantId: m.merchantId, connectionId, businessDate: '2026-11-10' }])
    await drainJobs(there)
    const login = await createApi(there).post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })
    expect(login.status).toBe(200)
    const restored = createApi(there).as(login.body.token)
    const runs = await restored.get(`/api/v1/reconciliation/runs?connectionId=${connectionId}&date=2026-11-10`)
    expect(runs.status).toBe(200)
    expect(runs.body.items.map((r: { status: string }) => r.status)).toEqual(['balanced'])
    const before = await restored.get(`/api/v1/reconciliation/runs?connectionId=${connectionId}&date=2026-11-09`)
    expect(before.body.items).toHaveLength(1)
  })
})

describe('an imported merchant and its marketplace shop', { timeout: 300_000 }, () => {
  const hub = useTestHub({ poolSize: 30, config: { publicUrl: 'https://hub.tillbridge.test' } })
  const received: { messageId: string }[] = []
  const receiver = http.post(RECEIVER, ({ request }) => {
    received.push({ messageId: request.headers.get('webhook-id')! })
    return HttpResponse.json({ ok: true })
  })
  const server = setupServer(receiver)
  const scratch = useRestores('tillbridge-restore-shop-', server)

  /** A merchant whose store's stock (10 of one SKU) is listed on a Shopify shop. */
  async function listed(code: string) {
    // Nothing of an earlier test may reach this test's shop.
    await settleAll(hub)
    // Made a minute ago, so the sales below are changes after the listings were read.
    hub.setNow(new Date(Date.now() - 60_000))
    try {
      const m = await seedMerchant(hub)
      const store = await seedStore(hub, m.merchantId, { code })
      const sku = `${code}-${Date.now()}`
      await seedProduct(hub, store, { sku, price: 1990, stock: 10 })
      const shop = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET })
      const loc = shop.addLocation('Store A').id
      shop.addProduct({ title: sku, variants: [{ sku, levels: { [loc]: 10 } }] })
      server.resetHandlers(receiver, ...shop.handlers)
      const connectionId = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: loc, ours: [store.locationId] }] })
      await syncListings(hub, { merchantId: m.merchantId, connectionId }, 'import')
      await settleAll(hub)
      expect(shop.level(sku, loc)).toBe(10)
      return { m, store, sku, shop, level: () => shop.level(sku, loc), connectionId }
    } finally {
      hub.setNow(undefined)
    }
  }

  it('a stock push still queued at export is sent by the restored hub at once', async () => {
    const { m, store, sku, level, connectionId } = await listed('RQP')
    const admin = createApi(hub).as(m.adminToken)
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 3980 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect((await queuedJobs(hub, 'stock.push')).length).toBe(1)
    // The old hub is gone before it pushed; the archive is restored elsewhere.
    const { there, r } = await scratch.restore(hub, m.merchantId, 'p.zip')
    expect((await queuedJobs(there, 'stock.push')).map((j) => j.payload)).toEqual([{ merchantId: m.merchantId, connectionId }])
    await drainJobs(there)
    expect(level()).toBe(8)
    // The old hub's own push (it never ran there) leaves the shop as it is.
    await settleAll(hub)
    expect(level()).toBe(8)
    // A restore is the merchant itself: its connections stay as they were.
    expect(r.connectionsDisabled).toEqual([])
    expect((await there.database.pool.query(`select 1 from connections where id = $1 and enabled`, [connectionId])).rowCount).toBe(1)
  })

  it('a copy beside the original comes with its connections, webhook subscriptions and hub-driven devices switched off', async () => {
    const { m, store, sku, level, connectionId } = await listed('RQC')
    const admin = createApi(hub).as(m.adminToken)
    const sub = await admin.post('/api/v1/webhook-subscriptions', { url: RECEIVER, eventTypes: ['sale.completed'] })
    expect(sub.status, JSON.stringify(sub.body)).toBe(201)
    // A sale whose delivery is still pending at export.
    const s1 = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 5970 }] })
    expect(s1.status, JSON.stringify(s1.body)).toBe(201)
    await drainJobs(hub, { tasks: [fanout], rounds: 3 })
    const pending = (await hub.database.pool.query<{ message_id: string }>(`select message_id from webhook_deliveries where merchant_id = $1 and status = 'pending'`, [m.merchantId])).rows
    expect(pending).toHaveLength(1)

    // A receipt printer the hub drives at its network address: the original's, in the shop.
    const printer = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Front printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: '10.0.2.23', route: 'hub' })
    expect(printer.status, JSON.stringify(printer.body)).toBe(201)

    const file = path.join(scratch.dir, 'c.zip')
    await exportMerchant(hub, { merchantId: m.merchantId, out: file })
    // Through the command line, which says what it switched off.
    const cli = await runCli(['import', '--in', file, '--as-new-merchant', '--name', 'training copy', '--json'], { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: scratch.dir }, 240_000)
    expect(cli.code, cli.stderr).toBe(0)
    const r = lastJsonLine(cli.stdout) as Awaited<ReturnType<typeof importArchive>>
    expect(cli.stdout).toMatch(/connections "Shopify" \([0-9a-f-]+\) are switched off in the copy/)
    expect(cli.stdout).toContain(`webhook subscriptions ${RECEIVER} (`)
    expect(cli.stdout).toContain('(1 pending deliveries parked)')
    expect(cli.stdout).toMatch(/devices "Front printer" \([0-9a-f-]+\) driven by the hub are switched off in the copy/)
    const pool = hub.database.pool
    const copyDevices = (await pool.query<{ id: string; enabled: boolean }>(`select id, enabled from devices where merchant_id = $1`, [r.merchantId])).rows
    expect(copyDevices).toEqual([{ id: expect.any(String), enabled: false }])
    expect(r.devicesDisabled).toEqual([{ id: copyDevices[0]!.id, name: 'Front printer' }])
    expect((await pool.query(`select 1 from devices where id = $1 and enabled`, [printer.body.id])).rowCount).toBe(1)
    const copyConnection = (await pool.query<{ id: string; enabled: boolean }>(`select id, enabled from connections where merchant_id = $1`, [r.merchantId])).rows
    expect(copyConnection).toEqual([{ id: expect.any(String), enabled: false }])
    expect(r.connectionsDisabled).toEqual([{ id: copyConnection[0]!.id, name: 'Shopify', connectorId: 'shopify' }])
    const copySubs = (await pool.query<{ id: string; enabled: boolean }>(`select id, enabled from webhook_subscriptions where merchant_id = $1`, [r.merchantId])).rows
    expect(copySubs).toEqual([{ id: expect.any(String), enabled: false }])
    expect(r.webhookSubscriptionsDisabled).toEqual([{ id: copySubs[0]!.id, url: RECEIVER }])
    expect(r.webhookDeliveriesParked).toBe(1)
    const copyDeliveries = (await pool.query<{ status: string; last_error: string }>(`select status, last_error from webhook_deliveries where merchant_id = $1`, [r.merchantId])).rows
    expect(copyDeliveries).toEqual([{ status: 'failed', last_error: expect.stringContaining('copy') }])
    // The original keeps its own.
    expect((await pool.query(`select 1 from connections where id = $1 and enabled`, [connectionId])).rowCount).toBe(1)

    // The original sells 3 more; the copy sells 1 at its own till.
    const s2 = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 5970 }] })
    expect(s2.status, JSON.stringify(s2.body)).toBe(201)
    const login = await createApi(hub).post('/api/v1/auth/login', { email: r.usersRenamed[0]!.to, password: m.password })
    expect(login.status).toBe(200)
    const copy = createApi(hub).as(login.body.token)
    const register = (await pool.query<{ id: string }>('select id from registers where merchant_id = $1', [r.merchantId])).rows[0]!.id
    const s3 = await copy.post('/api/v1/sales', { registerId: register, lines: [{ sku, quantity: 1 }], tenders: [{ kind: 'cash', amount: 1990 }] })
    expect(s3.status, JSON.stringify(s3.body)).toBe(201)
    await settleAll(hub)
    // The shop shows the original's stock, and the receiver heard only from the original.
    expect(level()).toBe(4)
    expect(received.map((x) => x.messageId)).toEqual(expect.arrayContaining([pending[0]!.message_id]))
    const originals = (await pool.query<{ message_id: string }>(`select message_id from webhook_deliveries where merchant_id = $1`, [m.merchantId])).rows.map((x) => x.message_id)
    expect(received.filter((x) => !originals.includes(x.messageId))).toEqual([])
    expect(received).toHaveLength(2)
  })
})
