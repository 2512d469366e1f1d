// Devices the hub drives itself (route 'hub'), and a device moved between the bridge and the hub: a job waiting for it
// goes the new way; a job the old route held is unknown (never resent), settled by the printer's status.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { deviceRig, rawBridge, type DeviceRig } from '../helpers/devices.ts'
import { startEscposPrinter, type SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'

describe('hub-driven devices and a change of route', () => {
  const hub = useTestHub()
  let printer: SimPrinter | undefined
  let rig: DeviceRig | undefined
  const cleanups: (() => unknown)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
    await printer?.close()
    printer = undefined
    await rig?.close()
    rig = undefined
  })

  async function store() {
    const m = await seedMerchant(hub)
    const s = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as(m.adminToken)
    printer = await startEscposPrinter()
    const p = await api.post('/api/v1/devices', { storeId: s.storeId, registerId: s.registerId, name: 'Printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: printer.address, route: 'hub' })
    const d = await api.post('/api/v1/devices', { storeId: s.storeId, registerId: s.registerId, name: 'Drawer', kind: 'cash_drawer', driver: 'drawer_via_printer', printerId: p.body.id })
    const item = await seedProduct(hub, s, { name: '散装苹果', price: 990, stock: 50 })
    const sell = async (cash = true) => (await api.post('/api/v1/sales', { registerId: s.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: cash ? 'cash' : 'card', amount: cash ? 1000 : 990 }] })).body
    const jobs = async () => (await api.get(`/api/v1/device-jobs?storeId=${s.storeId}`)).body.items
    return { m, s, api, sell, jobs, printerDev: p.body, drawerDev: d.body }
  }
  const poll = () => hub.database.db.execute(sql`select graphile_worker.add_job('device.poll', '{}'::json)`)

  it('a hub printer switched off (refusing) then back: the receipts wait, then print once each, in order, attempts kept', async () => {
    const st = await store()
    await printer!.refuse(true)
    const a = await st.sell(false)
    await drainJobs(hub)
    const b = await st.sell(false)
    await drainJobs(hub)
    const failed = await st.jobs()
    expect(failed.map((j: any) => [j.state, j.reason, j.retryable])).toEqual([
      ['failed', 'unreachable', true],
      ['failed', 'unreachable', true],
    ])
    // Still refusing: the poll changes nothing.
    await poll()
    await drainJobs(hub)
    expect((await st.jobs()).map((j: any) => j.state)).toEqual(['failed', 'failed'])
    await printer!.refuse(false)
    await poll()
    await drainJobs(hub)
    const after = await st.jobs()
    expect(after.map((j: any) => [j.state, j.attempts])).toEqual([
      ['done', 2],
      ['done', 2],
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

  it('a printer moved from the bridge to the hub with a receipt waiting: the hub prints it', async () => {
    const m = await seedMerchant(hub)
    const s = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as(m.adminToken)
    printer = await startEscposPrinter()
    const p = (await api.post('/api/v1/devices', { storeId: s.storeId, name: 'Printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: printer.address })).body
    expect(p.route).toBe('bridge')
    const job = (await api.post(`/api/v1/devices/${p.id}/jobs`, { action: 'test_print' })).body
    expect(job.state).toBe('queued')
    const moved = await api.patch(`/api/v1/devices/${p.id}`, { route: 'hub' })
    expect(moved.status).toBe(200)
    expect(moved.body.route).toBe('hub')
    await drainJobs(hub)
    await poll()
    await drainJobs(hub)
    const now = (await api.get(`/api/v1/device-jobs/${job.id}`)).body
    expect(now.state).toBe('done')
    expect(printer!.printed().filter((x) => x.text.includes('TEST PAGE'))).toHaveLength(1)
  })

  it('a printer moved to the hub while its bridge holds a job: the job is unknown, then settled by the printer’s status', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 200 })
    const b = await rawBridge(rig.hubUrl, rig.store.storeId, rig.bridgeKey)
    cleanups.push(() => b.ws.terminate())
    const job = (await rig.api.post(`/api/v1/devices/${rig.devices.printer.id}/jobs`, { action: 'test_print' })).body
    expect(await b.waitFor((m) => m.type === 'work' && m.work.jobId === job.id)).toBeDefined()
    expect((await rig.api.get(`/api/v1/device-jobs/${job.id}`)).body.state).toBe('sent')
    expect((await rig.api.patch(`/api/v1/devices/${rig.devices.printer.id}`, { route: 'hub' })).status).toBe(200)
    expect((await rig.api.get(`/api/v1/device-jobs/${job.id}`)).body).toMatchObject({ state: 'unknown', reason: 'route_changed' })
    // The bridge's word no longer counts (the hub drives the printer now); the printer's status settles it.
    b.done(job.id)
    await b.waitFor((m) => m.type === 'ack' && m.jobId === job.id)
    await drainJobs(hub)
    await poll()
    await drainJobs(hub)
    expect((await rig.api.get(`/api/v1/device-jobs/${job.id}`)).body).toMatchObject({ state: 'done', settledBy: 'status' })
    expect(rig.printer.printed().filter((x) => x.text.includes('TEST PAGE'))).toHaveLength(0)
  })
})
