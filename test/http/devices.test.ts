import { randomUUID } from 'node:crypto'
// The device registry and the device jobs a sale, a refund or a drawer request writes in its own transaction:
// checks on registration, routing by till and kitchen category, the drawer only with cash or permission, reprints
// under a new key, the bridge key that opens nothing but the bridge link, and a hub-driven printer's queue around a
// paper-out: the waiting receipt goes first, and nothing of it prints once the printer is switched off.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { hubDrivenPrinter } from '../helpers/devices.ts'
import type { SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'
import { rescueSessionFor } from '../../src/core/sales/cash-sessions.ts'
import { systemActor } from '../../src/core/staff/actor.ts'

describe('devices', () => {
  const hub = useTestHub()

  async function setup() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const printer = await admin.post('/api/v1/devices', {
      storeId: store.storeId,
      registerId: store.registerId,
      name: 'Till 1 printer',
      kind: 'receipt_printer',
      driver: 'escpos_tcp',
      address: '192.168.1.50',
      paperWidth: 80,
    })
    expect(printer.status).toBe(201)
    const drawer = await admin.post('/api/v1/devices', { storeId: store.storeId, registerId: store.registerId, name: 'Till 1 drawer', kind: 'cash_drawer', driver: 'drawer_via_printer', printerId: printer.body.id })
    expect(drawer.status).toBe(201)
    const display = await admin.post('/api/v1/devices', { storeId: store.storeId, registerId: store.registerId, name: 'Pole', kind: 'customer_display', driver: 'display_tcp', address: '192.168.1.51:4001' })
    expect(display.status).toBe(201)
    return { m, store, admin, printer: printer.body, drawer: drawer.body, display: display.body }
  }

  const jobsOf = async (storeId: string) =>
    (await hub.database.db.execute(sql`select d.kind, j.action, j.document, j.state, j.idempotency_key, j.expires_at - j.created_at as ttl from device_jobs j join devices d on d.id = j.device_id where j.store_id = ${storeId} order by j.seq`)).rows as any[]

  it('registers devices with their defaults and refuses registrations that cannot work', async () => {
    const { store, admin, printer } = await setup()
    expect(printer).toMatchObject({ address: '192.168.1.50:9100', paperWidth: 80, encoding: 'gbk', options: { columns: 48, cjkMode: true }, route: 'bridge' })
    const bad = async (body: object, status: number, code: string) => {
      const r = await admin.post('/api/v1/devices', { storeId: store.storeId, name: `x${Math.random()}`, ...body })
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      expect(r.body.error.code).toBe(code)
    }
    await bad({ kind: 'receipt_printer', driver: 'display_tcp', address: 'a:1' }, 422, 'driver_not_for_kind')
    await bad({ kind: 'receipt_printer', driver: 'escpos_tcp', address: 'printer:99999' }, 422, 'invalid_address')
    await bad({ kind: 'receipt_printer', driver: 'epos_http', address: 'not a url' }, 422, 'invalid_address')
    await bad({ kind: 'cash_drawer', driver: 'drawer_via_printer' }, 422, 'printer_required')
    await bad({ kind: 'customer_display', driver: 'display_tcp', address: '10.0.0.2:4001', paperWidth: 58 }, 422, 'not_a_printer')
    await bad({ kind: 'card_terminal', driver: 'stripe_terminal', address: 'tmr_123' }, 422, 'connection_required')
    await bad({ kind: 'kitchen_printer', driver: 'escpos_tcp', address: '10.0.0.3', categoryIds: ['0190b8a0-0000-7000-8000-000000000000'] }, 422, 'unknown_category')
    await bad({ kind: 'receipt_printer', driver: 'escpos_tcp', address: '10.0.0.4', paperWidth: 70 }, 400, 'validation_failed')
    const dup = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Till 1 printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: '10.0.0.9' })
    expect(dup.status).toBe(409)
    const epos = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Epson', kind: 'receipt_printer', driver: 'epos_http', address: 'http://10.0.0.7', paperWidth: 58 })
    expect(epos.body).toMatchObject({ address: 'http://10.0.0.7/cgi-bin/epos/service.cgi?devid=local_printer', options: { columns: 32 } })
    const cashier = await (await seedMerchant(hub)).staff('cashier')
    expect((await createApi(hub).as(cashier.token).post('/api/v1/devices', { storeId: store.storeId, name: 'n', kind: 'scale', driver: 'scale_tcp', address: 'a:1' })).status).toBe(403)
    // Name and driver may be left out: the kind's usual driver, named after the kind and address.
    const bare = await admin.post('/api/v1/devices', { storeId: store.storeId, kind: 'receipt_printer', address: '10.0.0.30:9100', paperWidth: 58, encoding: 'gb18030' })
    expect(bare.status).toBe(201)
    expect(bare.body).toMatchObject({ name: 'receipt printer 10.0.0.30:9100', driver: 'escpos_tcp', paperWidth: 58, encoding: 'gb18030', options: { columns: 32, cjkMode: true } })
    expect((await admin.post('/api/v1/devices', { storeId: store.storeId, kind: 'receipt_printer', driver: 'epos', address: 'http://10.0.0.31' })).body.driver).toBe('epos_http')
    const list = await admin.get(`/api/v1/devices?storeId=${store.storeId}`)
    expect(list.body.items.map((d: any) => d.name).sort()).toEqual(['Epson', 'Pole', 'Till 1 drawer', 'Till 1 printer', 'receipt printer 10.0.0.30:9100', 'receipt printer http://10.0.0.31'])
  })

  it('a printer given new paper or a new code page takes its defaults for them, as one registered with them does', async () => {
    const { store, admin } = await setup()
    const p = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Back office', kind: 'receipt_printer', driver: 'escpos_tcp', address: '10.0.0.40:9100' })
    expect(p.body.options).toMatchObject({ columns: 48, cjkMode: true })
    // 58 mm paper: 32 columns, not the 48 of 80 mm paper that would run off its edge.
    const narrow = await admin.patch(`/api/v1/devices/${p.body.id}`, { paperWidth: 58 })
    expect([narrow.status, narrow.body.paperWidth, narrow.body.options.columns]).toEqual([200, 58, 32])
    // A Western code page leaves Chinese mode; GBK again enters it.
    const western = await admin.patch(`/api/v1/devices/${p.body.id}`, { encoding: 'cp858' })
    expect([western.body.encoding, western.body.options.cjkMode, western.body.options.columns]).toEqual(['cp858', false, 32])
    expect((await admin.patch(`/api/v1/devices/${p.body.id}`, { encoding: 'gbk' })).body.options.cjkMode).toBe(true)
    // Columns or Chinese mode given with the change, or a change of something else, keep what was given.
    expect((await admin.patch(`/api/v1/devices/${p.body.id}`, { paperWidth: 80, columns: 42 })).body.options.columns).toBe(42)
    expect((await admin.patch(`/api/v1/devices/${p.body.id}`, { name: 'Back office 2' })).body.options).toMatchObject({ columns: 42, cjkMode: true })
  })

  it('a cash sale queues its receipt, a drawer kick valid for seconds and the change on the display, in its own transaction', async () => {
    const { store, admin } = await setup()
    const item = await seedProduct(hub, store, { price: 1250, stock: 10 })
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 3000 }] })
    expect(sale.status).toBe(201)
    const jobs = await jobsOf(store.storeId)
    expect(jobs.map((j) => [j.kind, j.action, j.state])).toEqual(
      expect.arrayContaining([
        ['receipt_printer', 'print', 'queued'],
        ['cash_drawer', 'drawer', 'queued'],
        ['customer_display', 'display', 'queued'],
      ]),
    )
    expect(jobs).toHaveLength(3)
    const drawer = jobs.find((j) => j.action === 'drawer')
    expect(drawer.ttl).toBe('00:00:10')
    expect(drawer.idempotency_key).toBe(`sale:${sale.body.id}:drawer`)
    expect(jobs.find((j) => j.action === 'print').document).toEqual({ type: 'receipt', saleId: sale.body.id })

    // A card sale opens no drawer.
    const card = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 1250 }] })
    const after = (await jobsOf(store.storeId)).filter((j) => j.document.saleId === card.body.id)
    expect(after.map((j) => j.action).sort()).toEqual(['display', 'print'])

    // A failed sale (not enough tendered) leaves no device work behind.
    const before = (await jobsOf(store.storeId)).length
    const failed = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'cash', amount: 100 }] })
    expect(failed.status).toBe(422)
    expect(await jobsOf(store.storeId)).toHaveLength(before)
  })

  it('a drawer follows its printer: to the hub route with it, and switched off with it (its queued kicks dropped, no new ones)', async () => {
    const { store, admin, printer, drawer } = await setup()
    const item = await seedProduct(hub, store, { price: 1250, stock: 10 })
    const moved = await admin.patch(`/api/v1/devices/${printer.id}`, { route: 'hub' })
    expect(moved.body.route).toBe('hub')
    expect((await admin.get(`/api/v1/devices/${drawer.id}`)).body.route).toBe('hub')
    // A drawer's own route is its printer's, whatever a change of it says.
    expect((await admin.patch(`/api/v1/devices/${drawer.id}`, { route: 'bridge' })).body.route).toBe('hub')

    const cash = (n: number) => admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: n }], tenders: [{ kind: 'cash', amount: 1250 * n }] })
    const first = await cash(1)
    expect((await jobsOf(store.storeId)).filter((j) => j.action === 'drawer').map((j) => [j.document.saleId, j.state])).toEqual([[first.body.id, 'queued']])
    // The printer is switched off: the kick waiting for it is dropped, and the next cash sale queues none.
    expect((await admin.patch(`/api/v1/devices/${printer.id}`, { enabled: false })).status).toBe(200)
    const second = await cash(1)
    expect(second.status).toBe(201)
    const drawers = (await jobsOf(store.storeId)).filter((j) => j.action === 'drawer')
    expect(drawers.map((j) => [j.document.saleId, j.state])).toEqual([[first.body.id, 'dropped']])
    const [dropped] = (await admin.get(`/api/v1/device-jobs?storeId=${store.storeId}`)).body.items.filter((j: any) => j.action === 'drawer')
    expect(dropped).toMatchObject({ state: 'dropped', reason: 'printer_disabled' })
  })

  it('a void of a cash sale opens the drawer for the cash paid back; an offline sale uploaded later queues nothing', async () => {
    const { store, admin } = await setup()
    const item = await seedProduct(hub, store, { price: 200, stock: 10 })
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 500 }] })
    const before = (await jobsOf(store.storeId)).length
    expect((await admin.post(`/api/v1/sales/${sale.body.id}/void`, { reason: 'wrong item' })).status).toBe(200)
    const voidJobs = (await jobsOf(store.storeId)).slice(before)
    expect(voidJobs.map((j) => [j.kind, j.action, j.ttl])).toEqual([['cash_drawer', 'drawer', '00:00:10']])
    expect(voidJobs[0].idempotency_key).toMatch(/^refund:.*:drawer$/)

    // Rung three hours ago while the till was offline: its receipt and drawer were the till's business then.
    const count = (await jobsOf(store.storeId)).length
    const offline = { id: randomUUID(), occurredAt: new Date(Date.now() - 3 * 3600_000).toISOString(), registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1, unitPrice: 200 }], tenders: [{ kind: 'cash', amount: 200 }] }
    expect((await admin.post('/api/v1/sales/batch', { sales: [offline] })).body.results[0].status).toBe('accepted')
    expect(await jobsOf(store.storeId)).toHaveLength(count)
  })

  it('kitchen tickets go to the stations routed to the lines’ categories or their parents', async () => {
    const { store, admin } = await setup()
    const food = (await admin.post('/api/v1/categories', { name: 'Food' })).body
    const noodles = (await admin.post('/api/v1/categories', { name: 'Noodles', parentId: food.id })).body
    const drinks = (await admin.post('/api/v1/categories', { name: 'Drinks' })).body
    const hot = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Hot kitchen', kind: 'kitchen_printer', driver: 'escpos_tcp', address: '10.0.0.20', categoryIds: [food.id] })
    const bar = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Bar', kind: 'kitchen_printer', driver: 'escpos_tcp', address: '10.0.0.21', categoryIds: [drinks.id] })
    expect([hot.status, bar.status]).toEqual([201, 201])
    const ramen = await seedProduct(hub, store, { price: 3800, stock: 5, categoryId: noodles.id })
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: ramen.sku, quantity: 1 }], tenders: [{ kind: 'wechat', amount: 3800 }] })
    const kitchen = (await jobsOf(store.storeId)).filter((j) => j.document.type === 'kitchen')
    expect(kitchen.map((j) => j.idempotency_key)).toEqual([`sale:${sale.body.id}:kitchen:${hot.body.id}`])
  })

  it('opens the drawer without a sale only with permission, audited, and only through the register route', async () => {
    const { m, store, admin, drawer } = await setup()
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    const refused = await cashier.post(`/api/v1/registers/${store.registerId}/drawer/open`, { reason: 'change for the float' })
    expect(refused.status).toBe(403)
    expect((await jobsOf(store.storeId)).filter((j) => j.action === 'drawer')).toHaveLength(0)
    const ok = await admin.post(`/api/v1/registers/${store.registerId}/drawer/open`, { reason: 'change for the float' })
    expect(ok.status).toBe(201)
    const kicks = (await jobsOf(store.storeId)).filter((j) => j.action === 'drawer')
    expect(kicks).toHaveLength(1)
    expect(kicks[0].document).toMatchObject({ type: 'drawer', reason: 'change for the float' })
    const audit = await admin.get('/api/v1/audit?action=drawer.opened_without_sale')
    expect(audit.body.items[0]).toMatchObject({ action: 'drawer.opened_without_sale', entityId: store.registerId })
    // The generic job route cannot kick a drawer.
    const viaJobs = await admin.post(`/api/v1/devices/${drawer.id}/jobs`, { action: 'drawer' })
    expect(viaJobs.status).toBe(400)
  })

  it('a paid-in or paid-out opens the drawer of its session’s register; a refused one opens nothing', async () => {
    const { m, store, admin } = await setup()
    const session = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0]
    const paidOut = await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_out', amount: 2000, reason: 'window cleaner' })
    expect(paidOut.status).toBe(201)
    const paidIn = await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_in', amount: 5000, reason: 'float top-up' })
    expect(paidIn.status).toBe(201)
    const kicks = (await jobsOf(store.storeId)).filter((j) => j.action === 'drawer')
    expect(kicks.map((j) => [j.kind, j.document])).toEqual([
      ['cash_drawer', { type: 'drawer', reason: 'paid out: window cleaner' }],
      ['cash_drawer', { type: 'drawer', reason: 'paid in: float top-up' }],
    ])
    // A rescue session (offline sales whose cash a closed count already took in) has no drawer to put cash in.
    const rescue = await hub.database.db.transaction((tx) => rescueSessionFor(tx, systemActor(m.merchantId, 'test'), store.registerId, new Date()))
    const intoRescue = await admin.post(`/api/v1/cash-sessions/${rescue.id}/movements`, { kind: 'paid_in', amount: 500, reason: 'float' })
    expect([intoRescue.status, intoRescue.body.error.code]).toEqual([409, 'rescue_session'])
    // More than the drawer holds: refused, and the drawer stays shut.
    const tooMuch = await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_out', amount: 10_000_000, reason: 'supplier' })
    expect(tooMuch.body.error.code).toBe('not_enough_cash')
    expect((await jobsOf(store.storeId)).filter((j) => j.action === 'drawer')).toHaveLength(2)
  })

  it('test prints and display text are jobs with idempotency; a reprint is a new, marked job', async () => {
    const { store, admin, printer, display } = await setup()
    const a = await admin.post(`/api/v1/devices/${printer.id}/jobs`, { action: 'test_print' }, { headers: { 'idempotency-key': 'k1' } })
    const b = await admin.post(`/api/v1/devices/${printer.id}/jobs`, { action: 'test_print' }, { headers: { 'idempotency-key': 'k1' } })
    expect(a.status).toBe(202)
    expect(b.body.id).toBe(a.body.id)
    const shown = await admin.post(`/api/v1/devices/${display.id}/jobs`, { action: 'display', lines: ['Welcome', '欢迎光临'] })
    expect(shown.body).toMatchObject({ action: 'display', state: 'queued', document: { type: 'display', lines: ['Welcome', '欢迎光临'] } })
    const wrong = await admin.post(`/api/v1/devices/${display.id}/jobs`, { action: 'weigh' })
    expect(wrong.body.error.code).toBe('action_not_for_device')

    const again = await admin.post(`/api/v1/device-jobs/${a.body.id}/reprint`, {})
    expect(again.status).toBe(201)
    expect(again.body).toMatchObject({ reprintOf: a.body.id, source: 'reprint', state: 'queued' })
    expect(again.body.idempotencyKey).not.toBe(a.body.idempotencyKey)
    const third = await admin.post(`/api/v1/device-jobs/${again.body.id}/reprint`, {})
    expect(third.body.reprintOf).toBe(a.body.id)
    expect(third.body.id).not.toBe(again.body.id)
    const audit = await admin.get('/api/v1/audit?action=receipt.reprinted')
    expect(audit.body.items).toHaveLength(2)
    const listed = await admin.get(`/api/v1/device-jobs?storeId=${store.storeId}&deviceId=${printer.id}`)
    expect(listed.body.items.map((j: any) => j.id)).toEqual([third.body.id, again.body.id, a.body.id])
    // Settling by hand is only for unknown outcomes.
    expect((await admin.post(`/api/v1/device-jobs/${a.body.id}/settle`, { printed: true })).body.error.code).toBe('job_not_unknown')
  })

  it('an Idempotency-Key used again for a reprint once it has expired reprints the job it now names', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const printer = await admin.post('/api/v1/devices', { storeId: store.storeId, registerId: store.registerId, name: 'P', kind: 'receipt_printer', driver: 'escpos_tcp', address: '192.168.1.50', paperWidth: 80 })
    expect(printer.status).toBe(201)
    const a = await admin.post(`/api/v1/devices/${printer.body.id}/jobs`, { action: 'test_print' })
    const b = await admin.post(`/api/v1/devices/${printer.body.id}/jobs`, { action: 'test_print' })
    expect([a.status, b.status]).toEqual([202, 202])
    const ra = await admin.post(`/api/v1/device-jobs/${a.body.id}/reprint`, {}, { headers: { 'idempotency-key': 'reprint-1' } })
    expect(ra.status, JSON.stringify(ra.body)).toBe(201)
    expect(ra.body.reprintOf).toBe(a.body.id)
    // Within 24 h the same key on another job is refused (422) by the middleware.
    const within = await admin.post(`/api/v1/device-jobs/${b.body.id}/reprint`, {}, { headers: { 'idempotency-key': 'reprint-1' } })
    expect(within.status).toBe(422)
    // Past its lifetime the key is free again (unit-of-work.ts; test/http/idempotency.test.ts 'a key lives 24 hours').
    await hub.database.db.execute(sql`update idempotency_keys set expires_at = now() - interval '1 minute' where merchant_id = ${m.merchantId} and key = 'reprint-1'`)
    const rb = await admin.post(`/api/v1/device-jobs/${b.body.id}/reprint`, {}, { headers: { 'idempotency-key': 'reprint-1' } })
    expect({ status: rb.status, reprintOf: rb.body.reprintOf }).toEqual({ status: 201, reprintOf: b.body.id })
  })

  it("a reprint goes to another printer of the same kind in the job's own store only", async () => {
    const { m, store, admin, printer } = await setup()
    const job = await admin.post(`/api/v1/devices/${printer.id}/jobs`, { action: 'test_print' })
    const spare = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Spare printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: '192.168.1.52' })
    const kitchen = await admin.post('/api/v1/devices', { storeId: store.storeId, name: 'Kitchen', kind: 'kitchen_printer', driver: 'escpos_tcp', address: '192.168.1.53' })
    const other = await seedStore(hub, m.merchantId)
    const far = await admin.post('/api/v1/devices', { storeId: other.storeId, name: 'Far printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: '10.9.9.9' })
    const toFar = await admin.post(`/api/v1/device-jobs/${job.body.id}/reprint`, { deviceId: far.body.id })
    expect(toFar.status).toBe(422)
    expect(toFar.body.error.code).toBe('device_of_other_store')
    const toKitchen = await admin.post(`/api/v1/device-jobs/${job.body.id}/reprint`, { deviceId: kitchen.body.id })
    expect(toKitchen.status).toBe(422)
    expect(toKitchen.body.error.code).toBe('wrong_printer_kind')
    const toSpare = await admin.post(`/api/v1/device-jobs/${job.body.id}/reprint`, { deviceId: spare.body.id })
    expect(toSpare.status).toBe(201)
    expect(toSpare.body).toMatchObject({ deviceId: spare.body.id, reprintOf: job.body.id })
    expect((await jobsOf(other.storeId))).toEqual([])
  })

  it('a bridge key is scoped to its store and refused on every other route', async () => {
    const { store, admin } = await setup()
    const created = await admin.post(`/api/v1/stores/${store.storeId}/bridge-keys`, { name: 'Back office PC' })
    expect(created.status).toBe(201)
    expect(created.body.apiKey.storeId).toBe(store.storeId)
    const bridge = createApi(hub).as(created.body.key)
    const r = await bridge.get('/api/v1/devices')
    expect(r.status).toBe(403)
    expect(r.body.error.code).toBe('key_scope')
  })

  describe('a hub-driven printer with a receipt waiting for its paper', () => {
    let sim: SimPrinter | undefined
    afterEach(async () => {
      await sim?.close()
      sim = undefined
    })

    async function hubPrinter() {
      const rig = await hubDrivenPrinter(hub)
      sim = rig.sim
      /** The receipts in the order they came out, by sale. */
      const printedOrder = (...sales: { receiptNo: string }[]) =>
        sim!
          .printed()
          .filter((p) => p.text.trim())
          .map((p) => sales.findIndex((s) => p.text.includes(s.receiptNo)))
      return { ...rig, printedOrder }
    }
    const poll = () => hub.database.db.execute(sql`select graphile_worker.add_job('device.poll', '{}'::json)`)

    it('paper back before the poll: the next sale’s receipt takes the waiting one first, and the two print in order', async () => {
      const p = await hubPrinter()
      p.sim.setPaper('end')
      const a = await p.sell()
      await drainJobs(hub)
      expect(await p.job(a.id)).toMatchObject({ state: 'failed', reason: 'paper_end', retryable: true })
      p.sim.setPaper('ok')
      const b = await p.sell()
      await drainJobs(hub)
      expect(p.printedOrder(a, b)).toEqual([0, 1])
      expect(await p.job(a.id)).toMatchObject({ state: 'done', attempts: 2 })
      expect(await p.job(b.id)).toMatchObject({ state: 'done', attempts: 1 })
    })

    it('while the paper stays out, the next sale’s receipt waits behind the failed one; once the poll sees paper, both print in order', async () => {
      const p = await hubPrinter()
      p.sim.setPaper('end')
      const a = await p.sell()
      await drainJobs(hub)
      const b = await p.sell()
      await drainJobs(hub)
      // The waiting receipt was tried again first and refused again; the later one did not go past it.
      expect(await p.job(a.id)).toMatchObject({ state: 'failed', reason: 'paper_end', retryable: true, attempts: 2 })
      expect(await p.job(b.id)).toMatchObject({ state: 'queued', attempts: 0 })
      expect(p.printedOrder(a, b)).toEqual([])
      p.sim.setPaper('ok')
      await poll()
      await drainJobs(hub)
      expect(p.printedOrder(a, b)).toEqual([0, 1])
    })

    it('switched off while a receipt waits for its paper: the receipt is dropped and never prints, also once switched on again', async () => {
      const p = await hubPrinter()
      p.sim.setPaper('end')
      const a = await p.sell()
      await drainJobs(hub)
      expect(await p.job(a.id)).toMatchObject({ state: 'failed', retryable: true })
      expect((await p.admin.patch(`/api/v1/devices/${p.printerId}`, { enabled: false })).status).toBe(200)
      expect(await p.job(a.id)).toMatchObject({ state: 'dropped', reason: 'device_disabled', retryable: false })
      p.sim.setPaper('ok')
      expect((await p.admin.patch(`/api/v1/devices/${p.printerId}`, { enabled: true })).status).toBe(200)
      await poll()
      await drainJobs(hub)
      expect(await p.job(a.id)).toMatchObject({ state: 'dropped' })
      expect(p.sim.printed().filter((x) => x.text.includes(a.receiptNo))).toEqual([])
      // Switched on again, it prints the next sale's receipt.
      const b = await p.sell()
      await drainJobs(hub)
      expect(p.printedOrder(a, b)).toEqual([1])
    })
  })
})
