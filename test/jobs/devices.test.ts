// Devices the hub drives itself (route 'hub'): the device.run job takes the device's work in order and prints on
// the simulated printer; a printer out of paper, or switched off, stops its queue, and the minute poll puts the work
// back once it is ready again, so each receipt prints exactly once, in order; a drawer opened by hand kicks once.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs, queuedJobs } from '../helpers/jobs.ts'
import { startEscposPrinter, type SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'
import { startEposPrinter } from '../../src/devices/simulators/epos-printer.ts'

describe('hub-driven devices', () => {
  const hub = useTestHub()
  let printer: SimPrinter | undefined
  afterEach(async () => {
    await printer?.close()
    printer = undefined
  })

  async function store() {
    const m = await seedMerchant(hub)
    const s = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as(m.adminToken)
    printer = await startEscposPrinter()
    const p = await api.post('/api/v1/devices', { storeId: s.storeId, registerId: s.registerId, name: 'Printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: printer.address, route: 'hub' })
    const d = await api.post('/api/v1/devices', { storeId: s.storeId, registerId: s.registerId, name: 'Drawer', kind: 'cash_drawer', driver: 'drawer_via_printer', printerId: p.body.id })
    expect(d.body.route).toBe('hub')
    const item = await seedProduct(hub, s, { name: '散装苹果', price: 990, stock: 50 })
    const sell = async (cash = true) => (await api.post('/api/v1/sales', { registerId: s.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: cash ? 'cash' : 'card', amount: cash ? 1000 : 990 }] })).body
    const jobs = async () => (await api.get(`/api/v1/device-jobs?storeId=${s.storeId}`)).body.items
    return { s, api, sell, jobs }
  }
  const poll = () => hub.database.db.execute(sql`select graphile_worker.add_job('device.poll', '{}'::json)`)

  it('prints a sale’s receipt and kicks the drawer through the device’s own queue', async () => {
    const s = await store()
    const sale = await s.sell()
    expect((await queuedJobs(hub, 'device.run')).length).toBeGreaterThanOrEqual(1)
    await drainJobs(hub)
    const receipts = printer!.printed().filter((p) => p.text.trim())
    expect(receipts).toHaveLength(1)
    expect(receipts[0]!.text).toContain(sale.receiptNo)
    expect(printer!.drawerKicks).toHaveLength(1)
    expect((await s.jobs()).map((j: any) => j.state)).toEqual(['done', 'done'])
  })

  it('waits out a paper-out printer and prints once the poll sees paper again', async () => {
    const s = await store()
    printer!.setPaper('end')
    const sale = await s.sell(false)
    await drainJobs(hub)
    expect((await s.jobs())[0]).toMatchObject({ state: 'failed', reason: 'paper_end', retryable: true })
    expect(printer!.printed()).toHaveLength(0)
    printer!.setPaper('ok')
    await hub.database.db.execute(sql`select graphile_worker.add_job('device.poll', '{}'::json)`)
    await drainJobs(hub)
    const [job] = await s.jobs()
    expect(job).toMatchObject({ state: 'done', attempts: 2 })
    expect(printer!.printed().filter((p) => p.text.includes(sale.receiptNo))).toHaveLength(1)
  })

  it('prints on an Epson ePOS printer with the receipt rendered as ePOS-Print XML', async () => {
    const m = await seedMerchant(hub)
    const s = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as(m.adminToken)
    const epson = await startEposPrinter()
    try {
      const p = await api.post('/api/v1/devices', { storeId: s.storeId, name: 'TM-m30', kind: 'receipt_printer', driver: 'epos_http', address: epson.url, route: 'hub' })
      expect(p.status).toBe(201)
      const item = await seedProduct(hub, s, { name: '龙井茶 250g', price: 8800, stock: 5 })
      const sale = (await api.post('/api/v1/sales', { registerId: s.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'alipay', amount: 8800 }] })).body
      await drainJobs(hub)
      const [printed] = epson.printed()
      expect(printed!.text).toContain('龙井茶')
      expect(printed!.text).toContain(sale.receiptNo)
      expect(printed!.cuts).toBe(1)
      expect((await api.get(`/api/v1/device-jobs?deviceId=${p.body.id}`)).body.items[0]).toMatchObject({ state: 'done' })
    } finally {
      await epson.close()
    }
  })

  it('a hub printer switched off (refusing) then back: the receipts wait, then print once each, in order, attempts kept', async () => {
    const st = await store()
    await printer!.refuse(true)
    const a = await st.sell(false)
    await drainJobs(hub)
    const b = await st.sell(false)
    await drainJobs(hub)
    // The later receipt does not go past the waiting one: it is tried again first, refused again, and the later one waits.
    const waiting = await st.jobs()
    expect(waiting.map((j: any) => [j.state, j.reason, j.retryable, j.attempts])).toEqual([
      ['queued', null, false, 0],
      ['failed', 'unreachable', true, 2],
    ])
    // Still refusing: the poll changes nothing.
    await poll()
    await drainJobs(hub)
    expect((await st.jobs()).map((j: any) => j.state)).toEqual(['queued', 'failed'])
    await printer!.refuse(false)
    await poll()
    await drainJobs(hub)
    const after = await st.jobs()
    expect(after.map((j: any) => [j.state, j.attempts])).toEqual([
      ['done', 1],
      ['done', 3],
    ])
    const texts = printer!.printed().filter((p) => p.text.trim()).map((p) => p.text)
    expect(texts.filter((t) => t.includes(a.receiptNo))).toHaveLength(1)
    expect(texts.filter((t) => t.includes(b.receiptNo))).toHaveLength(1)
    expect(texts.findIndex((t) => t.includes(a.receiptNo))).toBeLessThan(texts.findIndex((t) => t.includes(b.receiptNo)))
  })

  it('a hub drawer opened by hand kicks once; the kick carries the reason', async () => {
    const st = await store()
    const r = await st.api.post(`/api/v1/registers/${st.s.registerId}/drawer/open`, { reason: 'change for the float' })
    expect(r.status).toBe(201)
    await drainJobs(hub)
    expect(printer!.drawerKicks).toHaveLength(1)
    const [job] = await st.jobs()
    expect(job).toMatchObject({ action: 'drawer', state: 'done', source: 'drawer', document: { type: 'drawer', reason: 'change for the float' } })
  })
})
