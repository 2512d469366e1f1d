// Kitchen stations on the hub route (each prints its own lines; one offline holds up no other; a ticket reprinted on
// another station is still its own station's), device registration checks, other merchants' devices, permissions.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { startEscposPrinter, type SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'

describe('kitchen stations and device registration', () => {
  const hub = useTestHub()
  const printers: SimPrinter[] = []
  afterEach(async () => {
    for (const p of printers.splice(0)) await p.close()
  })
  const sim = async () => {
    const p = await startEscposPrinter()
    printers.push(p)
    return p
  }
  const poll = () => hub.database.db.execute(sql`select graphile_worker.add_job('device.poll', '{}'::json)`)

  async function kitchen() {
    const m = await seedMerchant(hub)
    const s = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as(m.adminToken)
    const food = (await api.post('/api/v1/categories', { name: 'Food' })).body
    const noodles = (await api.post('/api/v1/categories', { name: 'Noodles', parentId: food.id })).body
    const drinks = (await api.post('/api/v1/categories', { name: 'Drinks' })).body
    const hotSim = await sim()
    const barSim = await sim()
    const hot = (await api.post('/api/v1/devices', { storeId: s.storeId, name: 'Hot kitchen', kind: 'kitchen_printer', address: hotSim.address, categoryIds: [food.id], route: 'hub' })).body
    const bar = (await api.post('/api/v1/devices', { storeId: s.storeId, name: 'Bar', kind: 'kitchen_printer', address: barSim.address, categoryIds: [drinks.id], route: 'hub' })).body
    const ramen = await seedProduct(hub, s, { name: 'Ramen', price: 3800, stock: 5, categoryId: noodles.id })
    const tea = await seedProduct(hub, s, { name: 'Iced tea', price: 1200, stock: 5, categoryId: drinks.id })
    const sale = (await api.post('/api/v1/sales', { registerId: s.registerId, lines: [{ sku: ramen.sku, quantity: 2 }, { sku: tea.sku, quantity: 1 }], tenders: [{ kind: 'wechat', amount: 8800 }] })).body
    return { m, s, api, hotSim, barSim, hot, bar, sale }
  }

  it('a sale with lines for two stations prints each station only its own lines', async () => {
    const k = await kitchen()
    await drainJobs(hub)
    const hotText = k.hotSim.printed().map((p) => p.text).join('\n')
    const barText = k.barSim.printed().map((p) => p.text).join('\n')
    expect(hotText).toContain('Ramen')
    expect(hotText).not.toContain('Iced tea')
    expect(barText).toContain('Iced tea')
    expect(barText).not.toContain('Ramen')
  })

  it('a station offline: its ticket waits and prints once when it is back; the other station is not held up', async () => {
    const k = await kitchen().catch((e) => { throw e })
    // (kitchen() already sold; take the bar offline for a second sale)
    await drainJobs(hub)
    await k.barSim.refuse(true)
    const tea = (await k.api.get(`/api/v1/devices/${k.bar.id}`)).body
    expect(tea.id).toBe(k.bar.id)
    const items = (await k.api.get(`/api/v1/device-jobs?deviceId=${k.bar.id}`)).body.items
    expect(items).toHaveLength(1)
    const reprint = await k.api.post(`/api/v1/device-jobs/${items[0].id}/reprint`, {})
    expect(reprint.status).toBe(201)
    await drainJobs(hub)
    expect((await k.api.get(`/api/v1/device-jobs/${reprint.body.id}`)).body).toMatchObject({ state: 'failed', reason: 'unreachable', retryable: true, attempts: 1 })
    await k.barSim.refuse(false)
    await poll()
    await drainJobs(hub)
    expect((await k.api.get(`/api/v1/device-jobs/${reprint.body.id}`)).body).toMatchObject({ state: 'done', attempts: 2 })
    const reprints = k.barSim.printed().filter((p) => p.text.includes('Iced tea'))
    expect(reprints).toHaveLength(2)
    expect(reprints[1]!.text).toMatch(/REPRINT|重印|补打/)
  })

  it('a kitchen ticket reprinted on another kitchen station prints that ticket, naming its station', async () => {
    const k = await kitchen()
    await drainJobs(hub)
    const hotJob = (await k.api.get(`/api/v1/device-jobs?deviceId=${k.hot.id}`)).body.items[0]
    const r = await k.api.post(`/api/v1/device-jobs/${hotJob.id}/reprint`, { deviceId: k.bar.id })
    expect(r.status).toBe(201)
    await drainJobs(hub)
    const after = (await k.api.get(`/api/v1/device-jobs/${r.body.id}`)).body
    expect(after.state, JSON.stringify(after)).toBe('done')
    const last = k.barSim.printed().at(-1)!.text
    // The reprint is of the hot kitchen's ticket: its lines (Ramen), not the bar's order again.
    expect(last).toContain('Ramen')
    expect(last).not.toContain('Iced tea')
    expect(last).toContain('Hot kitchen')
  })

  it('registration: drawers, drivers, addresses, scopes', async () => {
    const m = await seedMerchant(hub)
    const s = await seedStore(hub, m.merchantId)
    const s2 = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as(m.adminToken)
    const other = await seedMerchant(hub)
    const os = await seedStore(hub, other.merchantId)
    const oapi = createApi(hub).as(other.adminToken)
    const p = (await api.post('/api/v1/devices', { storeId: s.storeId, name: 'P', kind: 'receipt_printer', address: '10.0.0.1' })).body
    const p2 = (await api.post('/api/v1/devices', { storeId: s2.storeId, name: 'P2', kind: 'receipt_printer', address: '10.0.0.2' })).body
    const disp = (await api.post('/api/v1/devices', { storeId: s.storeId, name: 'D', kind: 'customer_display', address: '10.0.0.3:4001' })).body
    const op = (await oapi.post('/api/v1/devices', { storeId: os.storeId, name: 'OP', kind: 'receipt_printer', address: '10.0.0.9' })).body
    const res: Record<string, [number, string | undefined]> = {}
    const tryIt = async (name: string, body: object) => {
      const r = await api.post('/api/v1/devices', { storeId: s.storeId, name, ...body })
      res[name] = [r.status, r.body?.error?.code]
    }
    await tryIt('drawer->display', { kind: 'cash_drawer', printerId: disp.id })
    await tryIt('drawer->otherstore', { kind: 'cash_drawer', printerId: p2.id })
    await tryIt('drawer->othermerchant', { kind: 'cash_drawer', printerId: op.id })
    await tryIt('label epos', { kind: 'label_printer', driver: 'epos_http', address: 'http://10.0.0.5' })
    await tryIt('scale with encoding', { kind: 'scale', address: '10.0.0.6:5001', encoding: 'gbk' })
    await tryIt('scale bad serial', { kind: 'scale', driver: 'scale_serial', address: 'ttyUSB0' })
    await tryIt('display port 0', { kind: 'customer_display', address: '10.0.0.7:0' })
    await tryIt('printer ipv6', { kind: 'receipt_printer', address: '[fe80::1]:9100' })
    await tryIt('other merchant store', { kind: 'receipt_printer', address: '10.0.0.8', storeId: os.storeId })
    await tryIt('register of other store', { kind: 'receipt_printer', address: '10.0.0.10', registerId: s2.registerId })
    await tryIt('stripe bad id', { kind: 'card_terminal', address: 'rdr_1', connectionId: '0190b8a0-0000-7000-8000-000000000000' })
    const patched: Record<string, [number, string | undefined]> = {}
    const pt = async (name: string, id: string, body: object, who = api) => {
      const r = await who.patch(`/api/v1/devices/${id}`, body)
      patched[name] = [r.status, r.body?.error?.code]
    }
    await pt('printer gets printerId', p.id, { printerId: p2.id })
    await pt('other merchant patch', op.id, { name: 'hijack' })
    await pt('display columns', disp.id, { columns: 30 })
    expect(res['drawer->display']![0]).toBe(422)
    expect(res['drawer->otherstore']![0]).toBe(422)
    expect(res['drawer->othermerchant']![0]).toBe(404)
    expect(res['label epos']![0]).toBe(422)
    expect(res['other merchant store']![0]).toBe(404)
    expect(res['register of other store']![0]).toBe(422)
    expect(patched['other merchant patch']![0]).toBe(404)
    expect([patched['printer gets printerId']![0], patched['display columns']![0]]).toEqual([422, 422])
    // other merchant's device and jobs unreachable
    const oj = (await oapi.post(`/api/v1/devices/${op.id}/jobs`, { action: 'test_print' })).body
    expect((await api.get(`/api/v1/device-jobs/${oj.id}`)).status).toBe(404)
    expect((await api.post(`/api/v1/device-jobs/${oj.id}/reprint`, {})).status).toBe(404)
    expect((await api.post(`/api/v1/device-jobs/${oj.id}/settle`, { printed: true })).status).toBe(404)
    expect((await api.post(`/api/v1/devices/${op.id}/jobs`, { action: 'test_print' })).status).toBe(404)
    expect((await api.get(`/api/v1/device-jobs?storeId=${os.storeId}`)).body.items).toEqual([])
    expect((await api.get(`/api/v1/device-jobs?deviceId=${op.id}`)).body.items).toEqual([])
    expect((await api.post(`/api/v1/stores/${os.storeId}/bridge-keys`, { name: 'x' })).status).toBe(404)
    // reprint of my job onto the other merchant's printer
    const mine = (await api.post(`/api/v1/devices/${p.id}/jobs`, { action: 'test_print' })).body
    expect((await api.post(`/api/v1/device-jobs/${mine.id}/reprint`, { deviceId: op.id })).status).toBe(404)
    expect((await api.post(`/api/v1/device-jobs/00000000-0000-7000-8000-000000000000/settle`, { printed: true })).status).toBe(404)
    // cashier: may reprint, may not settle or register
    const cashier = await m.staff('cashier')
    const c = createApi(hub).as(cashier.token)
    expect((await c.post(`/api/v1/device-jobs/${mine.id}/reprint`, {})).status).toBe(201)
    expect((await c.post(`/api/v1/device-jobs/${mine.id}/settle`, { printed: true })).status).toBe(403)
    expect((await c.post(`/api/v1/registers/${s.registerId}/drawer/open`, { reason: 'x' })).status).toBe(403)
    // disabling a device with queued jobs drops them with the reason, keeps attempts
    const dis = await api.patch(`/api/v1/devices/${p.id}`, { enabled: false })
    expect(dis.status).toBe(200)
    const js = (await api.get(`/api/v1/device-jobs?deviceId=${p.id}`)).body.items
    expect(js.map((j: any) => [j.state, j.reason])).toEqual(js.map(() => ['dropped', 'device_disabled']))
    expect((await api.post(`/api/v1/devices/${p.id}/jobs`, { action: 'test_print' })).body.error.code).toBe('device_disabled')
    expect((await api.post(`/api/v1/device-jobs/${mine.id}/reprint`, {})).status).toBe(422)
  })
})
