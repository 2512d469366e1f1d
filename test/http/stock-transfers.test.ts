import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { parse } from 'csv-parse/sync'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { addDays, businessDate } from '../../src/lib/time.ts'
import { checkLedgerAfterEach, ledgerMismatches, seedProduct, seedStore, setSettings } from '../helpers/pos.ts'

describe('stock transfers between locations', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function shop(opts: { stock?: number } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const a = await seedProduct(hub, store, { price: 1990, cost: 1000, stock: opts.stock ?? 10 })
    const b = await seedProduct(hub, store, { price: 990, cost: 400, stock: opts.stock ?? 10 })
    const manager = await m.staff('manager')
    const api = createApi(hub).as(manager.token)
    const backroom = (await createApi(hub).as(m.adminToken).post(`/api/v1/stores/${store.storeId}/locations`, { name: 'Back room', kind: 'backroom' })).body
    const cashier = await m.staff('cashier')
    return { m, store, a, b, from: store.locationId, to: backroom.id as string, api, cashierApi: createApi(hub).as(cashier.token), admin: createApi(hub).as(m.adminToken) }
  }

  const onHand = async (variantId: string, locationId: string) =>
    Number((await hub.database.db.execute(sql`select on_hand from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)).rows[0]?.on_hand ?? 0)

  it('sending takes the stock out of the source at once; receiving puts what arrived at the destination and records short and over', async () => {
    const { m, a, b, from, to, api, admin } = await shop({ stock: 10 })
    const sent = await api.post('/api/v1/stock/transfers', {
      fromLocationId: from,
      toLocationId: to,
      note: 'for the weekend',
      lines: [
        { sku: a.sku, quantity: 4 },
        { variantId: b.variantId, quantity: 2 },
        { sku: b.sku, quantity: 1 },
      ],
    })
    expect(sent.status).toBe(201)
    expect(sent.body).toMatchObject({ status: 'in_transit', note: 'for the weekend', receivedAt: null })
    const sentLines = Object.fromEntries(sent.body.lines.map((l: any) => [l.sku, l]))
    expect(sentLines[a.sku]).toMatchObject({ quantitySent: 4, quantityReceived: null, short: null, over: null })
    expect(sentLines[b.sku]).toMatchObject({ quantitySent: 3 })
    expect([await onHand(a.variantId, from), await onHand(b.variantId, from)]).toEqual([6, 7])
    expect([await onHand(a.variantId, to), await onHand(b.variantId, to)]).toEqual([0, 0])

    const received = await api.post(`/api/v1/stock/transfers/${sent.body.id}/receive`, {
      lines: [
        { variantId: a.variantId, quantityReceived: 3 },
        { variantId: b.variantId, quantityReceived: 4 },
      ],
    })
    expect(received.status).toBe(200)
    expect(received.body.status).toBe('received')
    const got = Object.fromEntries(received.body.lines.map((l: any) => [l.sku, l]))
    expect(got[a.sku]).toMatchObject({ quantitySent: 4, quantityReceived: 3, short: 1, over: 0 })
    expect(got[b.sku]).toMatchObject({ quantitySent: 3, quantityReceived: 4, short: 0, over: 1 })
    expect([await onHand(a.variantId, to), await onHand(b.variantId, to)]).toEqual([3, 4])
    expect([await onHand(a.variantId, from), await onHand(b.variantId, from)]).toEqual([6, 7])

    const moves = await api.get(`/api/v1/stock/movements?variantId=${a.variantId}`)
    expect(moves.body.items.slice(0, 2).map((x: any) => [x.kind, x.locationId, x.quantity, x.causeId, x.unitCost])).toEqual([
      ['transfer_in', to, 3, sent.body.id, 1000],
      ['transfer_out', from, -4, sent.body.id, 1000],
    ])
    const audit = await admin.get(`/api/v1/audit?action=stock.transfer_received&entityId=${sent.body.id}`)
    expect(audit.body.items[0].details.discrepancies).toEqual(
      expect.arrayContaining([
        { variantId: a.variantId, sku: a.sku, short: 1, over: 0 },
        { variantId: b.variantId, sku: b.sku, short: 0, over: 1 },
      ]),
    )
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('receiving without lines takes everything as sent; with lines, a line not listed arrived as nothing', async () => {
    const { m, a, b, from, to, api } = await shop()
    const one = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 2 }, { sku: b.sku, quantity: 5 }] })
    const all = await api.post(`/api/v1/stock/transfers/${one.body.id}/receive`, {})
    expect(all.body.lines.map((l: any) => [l.quantityReceived, l.short, l.over])).toEqual([
      [2, 0, 0],
      [5, 0, 0],
    ])
    const two = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 1 }, { sku: b.sku, quantity: 1 }] })
    const partial = await api.post(`/api/v1/stock/transfers/${two.body.id}/receive`, { lines: [{ variantId: a.variantId, quantityReceived: 1 }] })
    const bLine = partial.body.lines.find((l: any) => l.variantId === b.variantId)
    expect(bLine).toMatchObject({ quantitySent: 1, quantityReceived: 0, short: 1 })
    expect([await onHand(a.variantId, to), await onHand(b.variantId, to)]).toEqual([3, 5])
    expect([await onHand(a.variantId, from), await onHand(b.variantId, from)]).toEqual([7, 4])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('cancelling a transfer in transit puts the stock back at the source; a finished transfer cannot be received or cancelled again', async () => {
    const { m, a, from, to, api } = await shop({ stock: 10 })
    const sent = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 6 }] })
    expect(await onHand(a.variantId, from)).toBe(4)
    const cancelled = await api.post(`/api/v1/stock/transfers/${sent.body.id}/cancel`)
    expect(cancelled.status).toBe(200)
    expect(cancelled.body.status).toBe('cancelled')
    expect(await onHand(a.variantId, from)).toBe(10)
    expect(await onHand(a.variantId, to)).toBe(0)
    const back = await api.get(`/api/v1/stock/movements?variantId=${a.variantId}&locationId=${from}&kind=transfer_in`)
    expect(back.body.items).toEqual([expect.objectContaining({ quantity: 6, causeId: sent.body.id, reason: 'cancelled' })])

    const again = await api.post(`/api/v1/stock/transfers/${sent.body.id}/cancel`)
    expect(again.status).toBe(409)
    expect(again.body.error).toMatchObject({ code: 'transfer_not_in_transit', details: { status: 'cancelled' } })
    expect((await api.post(`/api/v1/stock/transfers/${sent.body.id}/receive`, {})).status).toBe(409)

    const other = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 1 }] })
    await api.post(`/api/v1/stock/transfers/${other.body.id}/receive`, {})
    expect((await api.post(`/api/v1/stock/transfers/${other.body.id}/receive`, {})).status).toBe(409)
    expect((await api.post(`/api/v1/stock/transfers/${other.body.id}/cancel`)).status).toBe(409)
    expect([await onHand(a.variantId, from), await onHand(a.variantId, to)]).toEqual([9, 1])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('under the block policy a transfer cannot send more than is available at the source, like a sale', async () => {
    const { m, a, b, from, to, api } = await shop({ stock: 3 })
    const r = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: b.sku, quantity: 1 }, { sku: a.sku, quantity: 4 }] })
    expect(r.status).toBe(409)
    expect(r.body.error).toMatchObject({ code: 'insufficient_stock', details: { variantId: a.variantId, onHand: 3, requested: 4 } })
    expect((await api.get('/api/v1/stock/transfers')).body.items).toEqual([])
    expect([await onHand(a.variantId, from), await onHand(b.variantId, from)]).toEqual([3, 3])

    await setSettings(hub, m.merchantId, { negativeStock: 'allow' })
    const allowed = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 4 }] })
    expect(allowed.status).toBe(201)
    expect(await onHand(a.variantId, from)).toBe(-1)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('refuses the same location twice, a foreign location, unknown items and a received variant that was not sent', async () => {
    const { m, a, b, from, to, api } = await shop()
    const other = await seedMerchant(hub)
    const foreign = await seedStore(hub, other.merchantId, { openSession: false })
    const same = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: from, lines: [{ sku: a.sku, quantity: 1 }] })
    expect(same.status).toBe(422)
    expect(same.body.error.code).toBe('same_location')
    const abroad = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: foreign.locationId, lines: [{ sku: a.sku, quantity: 1 }] })
    expect(abroad.status).toBe(404)
    expect(abroad.body.error.code).toBe('stock_location_not_found')
    const unknown = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: 'GHOST', quantity: 1 }] })
    expect(unknown.body.error.code).toBe('unknown_item')
    const zero = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 0 }] })
    expect(zero.status).toBe(400)

    const sent = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 1 }] })
    const wrong = await api.post(`/api/v1/stock/transfers/${sent.body.id}/receive`, { lines: [{ variantId: b.variantId, quantityReceived: 1 }] })
    expect(wrong.status).toBe(422)
    expect(wrong.body.error.code).toBe('variant_not_in_transfer')
    // Lines of one variant add up, and together they may not move more than one line may.
    const billion = 1_000_000_000
    const tooMany = await api.post(`/api/v1/stock/transfers/${sent.body.id}/receive`, { lines: [{ variantId: a.variantId, quantityReceived: billion }, { variantId: a.variantId, quantityReceived: 1 }] })
    expect([tooMany.status, tooMany.body.error.code]).toEqual([422, 'quantity_too_large'])
    await setSettings(hub, m.merchantId, { negativeStock: 'allow' })
    const sendTooMany = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: billion }, { variantId: a.variantId, quantity: 1 }] })
    expect([sendTooMany.status, sendTooMany.body.error.code]).toEqual([422, 'quantity_too_large'])
    await setSettings(hub, m.merchantId, { negativeStock: 'block' })
    expect((await api.get(`/api/v1/stock/transfers/${sent.body.id}`)).body.status).toBe('in_transit')
    expect(await onHand(a.variantId, from)).toBe(9)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('takes location and variant ids in upper case as the same ids', async () => {
    const { api, a, from, to } = await shop({ stock: 10 })
    const same = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: from.toUpperCase(), lines: [{ sku: a.sku, quantity: 1 }] })
    expect(same.status).toBe(422)
    expect(same.body.error.code).toBe('same_location')
    const sent = await api.post('/api/v1/stock/transfers', { fromLocationId: from.toUpperCase(), toLocationId: to, lines: [{ sku: a.sku, quantity: 3 }] })
    expect(sent.status, JSON.stringify(sent.body)).toBe(201)
    const received = await api.post(`/api/v1/stock/transfers/${sent.body.id}/receive`, { lines: [{ variantId: a.variantId.toUpperCase(), quantityReceived: 3 }] })
    expect(received.status, JSON.stringify(received.body)).toBe(200)
    expect(await onHand(a.variantId, from)).toBe(7)
    expect(await onHand(a.variantId, to)).toBe(3)
  })

  it('lists transfers newest first, by status and by location at either end', async () => {
    const { m, a, from, to, api } = await shop()
    const first = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 1 }] })
    const second = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 1 }] })
    await api.post(`/api/v1/stock/transfers/${first.body.id}/receive`, {})
    expect((await api.get('/api/v1/stock/transfers')).body.items.map((t: any) => t.id)).toEqual([second.body.id, first.body.id])
    expect((await api.get('/api/v1/stock/transfers?status=in_transit')).body.items.map((t: any) => t.id)).toEqual([second.body.id])
    expect((await api.get(`/api/v1/stock/transfers?locationId=${to}`)).body.items).toHaveLength(2)
    const paged = await api.get('/api/v1/stock/transfers?limit=1')
    expect(paged.body.items.map((t: any) => t.id)).toEqual([second.body.id])
    expect((await api.get(`/api/v1/stock/transfers?limit=1&cursor=${paged.body.nextCursor}`)).body.items.map((t: any) => t.id)).toEqual([first.body.id])
    const one = await api.get(`/api/v1/stock/transfers/${first.body.id}`)
    expect(one.body).toMatchObject({ status: 'received', lines: [{ sku: a.sku, quantitySent: 1, quantityReceived: 1 }] })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a cashier cannot send or receive transfers', async () => {
    const { m, a, from, to, api, cashierApi } = await shop()
    const r = await cashierApi.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 1 }] })
    expect(r.status).toBe(403)
    expect(r.body.error.details).toMatchObject({ permission: 'stock.transfer' })
    const sent = await api.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: to, lines: [{ sku: a.sku, quantity: 1 }] })
    expect((await cashierApi.post(`/api/v1/stock/transfers/${sent.body.id}/receive`, {})).status).toBe(403)
    expect(await onHand(a.variantId, to)).toBe(0)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it("merchant B can neither see nor receive nor cancel merchant A's transfer", async () => {
    const x = await shop()
    const y = await shop()
    const sent = await x.api.post('/api/v1/stock/transfers', { fromLocationId: x.from, toLocationId: x.to, lines: [{ sku: x.a.sku, quantity: 2 }] })
    expect((await y.admin.get(`/api/v1/stock/transfers/${sent.body.id}`)).status).toBe(404)
    expect((await y.admin.post(`/api/v1/stock/transfers/${sent.body.id}/receive`, {})).status).toBe(404)
    expect((await y.admin.post(`/api/v1/stock/transfers/${sent.body.id}/cancel`)).status).toBe(404)
    expect((await y.admin.get('/api/v1/stock/transfers')).body.items).toEqual([])
    expect((await y.admin.get(`/api/v1/stock/transfers?locationId=${x.from}`)).status).toBe(404)
    const fromA = await y.admin.post('/api/v1/stock/transfers', { fromLocationId: x.from, toLocationId: y.to, lines: [{ sku: y.a.sku, quantity: 1 }] })
    expect(fromA.status).toBe(404)
    expect((await x.api.get(`/api/v1/stock/transfers/${sent.body.id}`)).body.status).toBe('in_transit')
    expect(await onHand(x.a.variantId, x.from)).toBe(8)
    expect(await ledgerMismatches(hub, x.m.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, y.m.merchantId)).toEqual([])
  })

  describe('in the stock valuation', () => {
    const at = (date: string, time: string) => new Date(`${date}T${time}+08:00`)
    // Days after the stock was seeded (now), so the past days' ledger holds it.
    const d0 = businessDate(new Date(), 'Asia/Shanghai')
    const [d1, d2, d3] = [addDays(d0, 1), addDays(d0, 2), addDays(d0, 3)]
    afterEach(() => hub.setNow(undefined))

    it('stock on its way is valued apart, under its destination, until it is received or cancelled, also on past days', async () => {
      const { m, store, a, b, from } = await shop({ stock: 10 })
      // Each day's requests sign in on that day, as the hub's clock moves past the seeded session.
      let admin = createApi(hub).as(m.adminToken)
      const day = async (date: string, time: string) => {
        hub.setNow(at(date, time))
        admin = createApi(hub).as(await m.adminTokenNow())
      }
      const east = await seedStore(hub, m.merchantId, { code: 'EAST', openSession: false })
      const west = await seedStore(hub, m.merchantId, { openSession: false })
      const valuation = async (query = '') => (await admin.get(`/api/v1/reports/stock-valuation${query}`)).body

      await day(d1, '10:00:00')
      const toEast = await admin.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: east.locationId, lines: [{ sku: a.sku, quantity: 4 }, { sku: b.sku, quantity: 3 }] })
      expect(toEast.status).toBe(201)
      const day1 = await valuation()
      // a costs 1000 and b 400: 6 × 1000 + 7 × 400 at the source, 4 × 1000 + 3 × 400 on the road.
      expect(day1.totals).toEqual({ items: 2, value: 8_800, inTransitValue: 5_200, totalValue: 14_000 })
      const source = (await admin.get(`/api/v1/stores/${store.storeId}`)).body.code
      const road = { transferId: toEast.body.id, fromLocationId: from, fromLocationName: 'Shop floor', fromStoreCode: source, toLocationId: east.locationId, toLocationName: 'Shop floor', toStoreId: east.storeId, toStoreCode: 'EAST', sentAt: toEast.body.sentAt }
      expect(day1.inTransit).toEqual([
        { ...road, variantId: a.variantId, sku: a.sku, name: expect.any(String), quantity: 4, unitCost: 1000, costPer: 1, value: 4_000 },
        { ...road, variantId: b.variantId, sku: b.sku, name: expect.any(String), quantity: 3, unitCost: 400, costPer: 1, value: 1_200 },
      ])
      // A store's valuation holds what is on its way to it; the sending store's does not.
      expect((await valuation(`?storeId=${east.storeId}`)).totals).toEqual({ items: 0, value: 0, inTransitValue: 5_200, totalValue: 5_200 })
      expect((await valuation(`?locationId=${from}`)).totals).toEqual({ items: 2, value: 8_800, inTransitValue: 0, totalValue: 8_800 })

      await day(d2, '09:00:00')
      const toWest = await admin.post('/api/v1/stock/transfers', { fromLocationId: from, toLocationId: west.locationId, lines: [{ sku: a.sku, quantity: 2 }] })
      // One of the four arrives short: it is gone from the books once received.
      const got = await admin.post(`/api/v1/stock/transfers/${toEast.body.id}/receive`, { lines: [{ variantId: a.variantId, quantityReceived: 3 }, { variantId: b.variantId, quantityReceived: 3 }] })
      expect(got.status).toBe(200)
      const day2 = await valuation()
      expect(day2.inTransit.map((x: any) => [x.transferId, x.sku, x.quantity])).toEqual([[toWest.body.id, a.sku, 2]])
      expect(day2.totals).toEqual({ items: 4, value: 6_800 + 4_200, inTransitValue: 2_000, totalValue: 13_000 })

      await day(d3, '09:00:00')
      expect((await admin.post(`/api/v1/stock/transfers/${toWest.body.id}/cancel`)).status).toBe(200)
      const day3 = await valuation()
      expect(day3.inTransit).toEqual([])
      expect(day3.totals).toEqual({ items: 4, value: 13_000, inTransitValue: 0, totalValue: 13_000 })

      // Past days replay what was on the road at their end.
      const past1 = await valuation(`?date=${d1}`)
      expect(past1.inTransit.map((x: any) => [x.transferId, x.sku, x.quantity])).toEqual([[toEast.body.id, a.sku, 4], [toEast.body.id, b.sku, 3]])
      expect(past1.totals).toEqual(day1.totals)
      const past2 = await valuation(`?date=${d2}`)
      expect(past2.inTransit.map((x: any) => [x.transferId, x.quantity])).toEqual([[toWest.body.id, 2]])
      expect(past2.totals).toEqual(day2.totals)
      expect((await valuation(`?date=${d0}`)).totals).toEqual({ items: 2, value: 14_000, inTransitValue: 0, totalValue: 14_000 })

      // The file lists the road's rows after the locations', under their destination, with where they come from.
      await day(d2, '18:00:00')
      const file = await admin.get(`/api/v1/reports/stock-valuation?date=${d1}&format=csv`)
      const rows = parse(file.body, { columns: true, bom: true }) as Record<string, string>[]
      expect(rows.filter((r) => r.in_transit_from !== '')).toEqual([
        expect.objectContaining({ store_code: 'EAST', location: 'Shop floor', sku: a.sku, on_hand: '4', value: '40.00', units_sold: '', in_transit_from: `${source} Shop floor` }),
        expect.objectContaining({ store_code: 'EAST', location: 'Shop floor', sku: b.sku, on_hand: '3', value: '12.00', units_sold: '', in_transit_from: `${source} Shop floor` }),
      ])
      expect(rows.filter((r) => r.in_transit_from === '')).toHaveLength(2)
      expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
    })
  })
})

