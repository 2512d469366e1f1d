import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, ledgerMismatches, seedProduct, seedStore, type SeededStore } from '../helpers/pos.ts'
import { applyMovements } from '../../src/core/stock/ledger.ts'

const tick = () => new Promise((r) => setTimeout(r, 5))

describe('stock counts (盘点)', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function shop(opts: { stock?: number; cost?: number } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 1990, cost: opts.cost ?? 1000, stock: opts.stock ?? 10, barcodes: [] })
    const manager = await m.staff('manager')
    const cashier = await m.staff('cashier')
    return { m, store, item, api: createApi(hub).as(manager.token), counter: createApi(hub).as(cashier.token), admin: createApi(hub).as(m.adminToken) }
  }

  const onHand = async (variantId: string, locationId: string) =>
    Number((await hub.database.db.execute(sql`select on_hand from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)).rows[0]?.on_hand ?? 0)

  /** A sale at the till, as the checkout records it on the ledger; `occurredAt`: when it was rung up, if earlier. */
  const sell = (store: SeededStore, variantId: string, quantity: number, occurredAt?: Date) =>
    hub.database.db.transaction((tx) =>
      applyMovements(tx, store.actor, [{ variantId, locationId: store.locationId, quantity: -quantity, kind: 'sale', causeType: 'sale_line', unitCost: 1000, occurredAt }], { policy: 'allow' }),
    )

  it('sales during an open count are not lost: 3 of 10 sold before the shelf is counted at 7 leave no variance, and on-hand stays 7', async () => {
    const { m, store, item, api, counter } = await shop({ stock: 10 })
    const open = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    expect(open.status).toBe(201)
    expect(open.body).toMatchObject({ status: 'open', scope: 'some', lineCount: 1 })
    await sell(store, item.variantId, 3)
    await tick()
    const entered = await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 7 }] })
    expect(entered.status).toBe(200)
    expect(entered.body.lines).toEqual([expect.objectContaining({ sku: item.sku, counted: 7, entries: 1 })])

    const variance = await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)
    expect(variance.body.lines).toEqual([expect.objectContaining({ snapshotOnHand: 10, movedSinceSnapshot: -3, expected: 7, counted: 7, variance: 0, value: 0 })])
    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(posted.status).toBe(200)
    expect(posted.body.count.status).toBe('posted')
    expect(posted.body.movementIds).toEqual([])
    expect(await onHand(item.variantId, store.locationId)).toBe(7)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('counting 6 after 3 of 10 were sold posts a variance of −1 at cost, and a sale after the entry is not counted against it', async () => {
    const { m, store, item, api, counter, admin } = await shop({ stock: 10, cost: 1000 })
    const open = await counter.post('/api/v1/stock/counts', { locationId: store.locationId })
    expect(open.body).toMatchObject({ scope: 'all', lineCount: 1 })
    await sell(store, item.variantId, 3)
    await tick()
    await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ variantId: item.variantId, quantity: 6 }] })
    await tick()
    await sell(store, item.variantId, 2) // after the entry: the counter saw these two on the shelf
    expect(await onHand(item.variantId, store.locationId)).toBe(5)

    const variance = await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)
    expect(variance.body.lines).toEqual([expect.objectContaining({ expected: 7, counted: 6, variance: -1, unitCost: 1000, value: -1000 })])
    expect(variance.body.totals).toEqual({ quantity: { gains: 0, losses: -1, net: -1 }, value: { gains: 0, losses: -1000, net: -1000 }, unexplained: { quantity: -1, value: -1000 } })

    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, { uncounted: 'ignore' })
    expect(posted.body.variance.lines[0]).toMatchObject({ variance: -1 })
    expect(posted.body.movementIds).toHaveLength(1)
    // counted 6, minus the 2 sold after the entry
    expect(await onHand(item.variantId, store.locationId)).toBe(4)
    const moves = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&kind=count`)
    expect(moves.body.items).toEqual([expect.objectContaining({ quantity: -1, onHandAfter: 4, causeType: 'count', causeId: open.body.id, unitCost: 1000 })])
    // the report of a posted count does not count its own correction again
    const after = await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)
    expect(after.body).toMatchObject({ status: 'posted', lines: [expect.objectContaining({ expected: 7, variance: -1 })] })
    const audit = await admin.get(`/api/v1/audit?action=stock.count_posted&entityId=${open.body.id}`)
    expect(audit.body.items[0].details).toMatchObject({ totals: { value: { net: -1000 } }, lines: [{ sku: item.sku, expected: 7, counted: 6, variance: -1, value: -1000 }] })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a count is valued at the variant’s current cost while open, as the stock valuation is, and keeps the cost it was posted at', async () => {
    const { store, item, api, admin } = await shop({ stock: 20, cost: 1234 })
    const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    expect((await admin.patch(`/api/v1/variants/${item.variantId}`, { cost: 2000 })).status).toBe(200)
    await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 19 }] })
    const before = (await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)).body.lines[0]
    const valuation = (await admin.get(`/api/v1/reports/stock-valuation?locationId=${store.locationId}`)).body.items.find((i: any) => i.sku === item.sku)
    expect(before).toMatchObject({ variance: -1, unitCost: 2000, value: -2000 })
    expect(valuation.unitCost).toBe(before.unitCost)
    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(posted.body.variance.lines[0]).toMatchObject({ unitCost: 2000, value: -2000 })
    const moves = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}&kind=count`)
    expect(moves.body.items[0]).toMatchObject({ quantity: -1, unitCost: 2000 })
    // A later change of cost leaves the posted count as it was posted.
    expect((await admin.patch(`/api/v1/variants/${item.variantId}`, { cost: 3000 })).status).toBe(200)
    expect((await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)).body.lines[0]).toMatchObject({ unitCost: 2000, value: -2000 })
  })

  it('a sale rung up before the entry but recorded after the post (a checkout in flight, an offline upload) is not taken off twice', async () => {
    const { store, item, api, counter } = await shop({ stock: 10 })
    const open = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    const rungUp = new Date()
    await tick()
    // The counter finds 7: the 3 the till sold are gone from the shelf, though the till has not recorded them yet.
    await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 7 }] })
    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(posted.body.variance.lines[0]).toMatchObject({ expected: 10, counted: 7, variance: -3 })
    expect(await onHand(item.variantId, store.locationId)).toBe(7)
    await sell(store, item.variantId, 3, rungUp)
    expect(await onHand(item.variantId, store.locationId)).toBe(7)
    const moves = await api.get(`/api/v1/stock/movements?variantId=${item.variantId}`)
    expect(moves.body.items.slice(0, 2).map((x: any) => [x.kind, x.quantity, x.causeType, x.causeId])).toEqual([
      ['sale', -3, 'sale_line', null],
      ['count', 3, 'count', open.body.id],
    ])
    // The posted count's report is what was posted, whatever is recorded after it; the sale recorded late explains
    // the loss the count found, which is no longer a loss nobody can account for.
    expect(posted.body.variance.lines[0]).toMatchObject({ recordedLater: 0, unexplained: -3, unexplainedValue: -3000 })
    expect(posted.body.variance.totals.unexplained).toEqual({ quantity: -3, value: -3000 })
    const later = (await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)).body
    expect(later.lines).toEqual([{ ...posted.body.variance.lines[0], recordedLater: -3, unexplained: 0, unexplainedValue: 0 }])
    expect(later.totals).toEqual({ ...posted.body.variance.totals, unexplained: { quantity: 0, value: 0 } })
    // A sale after the entry comes off as it should, and so does one rung up after the post.
    await sell(store, item.variantId, 1)
    expect(await onHand(item.variantId, store.locationId)).toBe(6)
  })

  it('a late sale explains the loss of the count that saw it, not of a later count of the same shelf', async () => {
    const { store, item, api, counter } = await shop({ stock: 10 })
    const rungUp = new Date()
    await tick()
    const countOnce = async (quantity: number) => {
      const open = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
      await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity }] })
      expect((await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})).status).toBe(200)
      await tick()
      return open.body.id as string
    }
    // The first count finds 9 (the unit the till sold is gone); the second finds 9 as expected.
    const first = await countOnce(9)
    const second = await countOnce(9)
    await sell(store, item.variantId, 1, rungUp)
    expect(await onHand(item.variantId, store.locationId)).toBe(9)
    const report = async (id: string) => (await api.get(`/api/v1/stock/counts/${id}/variance`)).body
    expect((await report(first)).lines[0]).toMatchObject({ variance: -1, recordedLater: -1, unexplained: 0 })
    expect((await report(second)).lines[0]).toMatchObject({ variance: 0, recordedLater: 0, unexplained: 0 })
    expect((await report(second)).totals.unexplained).toEqual({ quantity: 0, value: 0 })
  })

  it('a late sale recorded while the next count is open is neither a loss of that count nor taken off twice', async () => {
    const { store, item, api, counter } = await shop({ stock: 10 })
    const first = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    const rungUp = new Date()
    await tick()
    await counter.post(`/api/v1/stock/counts/${first.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 8 }] })
    await api.post(`/api/v1/stock/counts/${first.body.id}/post`, {})
    const second = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    await sell(store, item.variantId, 2, rungUp)
    await tick()
    await counter.post(`/api/v1/stock/counts/${second.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 8 }] })
    const posted = await api.post(`/api/v1/stock/counts/${second.body.id}/post`, {})
    expect(posted.body.variance.lines[0]).toMatchObject({ snapshotOnHand: 8, movedSinceSnapshot: 0, expected: 8, counted: 8, variance: 0 })
    expect(await onHand(item.variantId, store.locationId)).toBe(8)
  })

  it('checkouts in flight across the entry and the post: after posting, on-hand is the count less the sales rung up after the entry', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1990, stock: 0 })
    const api = createApi(hub).as((await m.staff('manager')).token)
    const till = createApi(hub).as((await m.staff('cashier')).token)
    for (let round = 0; round < 4; round++) {
      await api.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 100 }] })
      const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
      const sales = Array.from({ length: 10 }, () => till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] }))
      await new Promise((r) => setTimeout(r, round))
      await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 50 }] })
      const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
      expect(posted.status).toBe(200)
      const ids = (await Promise.all(sales)).map((r) => {
        expect(r.status).toBe(201)
        return r.body.id as string
      })
      const entryAt = posted.body.variance.lines[0].lastEnteredAt
      const { rows } = await hub.database.db.execute(sql`select count(*)::int as n from sales where id = any(${sql.param(ids)}::uuid[]) and occurred_at > ${entryAt}::timestamptz`)
      expect(await onHand(item.variantId, store.locationId)).toBe(50 - (rows[0]!.n as number))
      // Empty the shelf for the next round.
      const reset = await api.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
      await api.post(`/api/v1/stock/counts/${reset.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 0 }] })
      await api.post(`/api/v1/stock/counts/${reset.body.id}/post`, {})
    }
  })

  it('a variant joining a count of everything with its first entry while sales run: the sales after the entry stay off on-hand', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as((await m.staff('manager')).token)
    const till = createApi(hub).as((await m.staff('cashier')).token)
    for (let round = 0; round < 4; round++) {
      const item = await seedProduct(hub, store, { price: 1990, stock: 0 })
      const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId })
      // Stocked after the count opened: it joins the count with its first entry.
      await api.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 100 }] })
      const entry = api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 50 }] })
      const sales = Array.from({ length: 8 }, () => till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] }))
      const [entered, ...sold] = await Promise.all([entry, ...sales])
      expect(entered!.status).toBe(200)
      const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
      const line = posted.body.variance.lines.find((l: { variantId: string }) => l.variantId === item.variantId)
      const ids = sold.map((r) => r.body.id as string)
      const { rows } = await hub.database.db.execute(sql`select count(*)::int as n from sales where id = any(${sql.param(ids)}::uuid[]) and occurred_at > ${line.lastEnteredAt}::timestamptz`)
      expect(await onHand(item.variantId, store.locationId)).toBe(50 - (rows[0]!.n as number))
    }
  })

  it('a variant joining a count of everything is not dated ahead by a sale from a till whose clock runs a few minutes fast', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as((await m.staff('manager')).token)
    const till = createApi(hub).as((await m.staff('cashier')).token)
    const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId })
    const item = await seedProduct(hub, store, { price: 1500, stock: 6 })
    const fast = new Date(Date.now() + 4 * 60_000).toISOString()
    const up = await till.post('/api/v1/sales/batch', { sales: [{ id: crypto.randomUUID(), occurredAt: fast, registerId: store.registerId, lines: [{ sku: item.sku, unitPrice: 1500 }], tenders: [{ kind: 'cash', amount: 1500 }] }] })
    expect(up.body.results[0].status).toBe('accepted')
    await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 5 }] })
    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(new Date(posted.body.variance.lines[0].lastEnteredAt).getTime()).toBeLessThan(Date.now() + 2000)
    expect(await onHand(item.variantId, store.locationId)).toBe(5)
    // A sale at the till right after the post comes off on-hand.
    expect((await till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 3000 }] })).status).toBe(201)
    expect(await onHand(item.variantId, store.locationId)).toBe(3)
  })

  it('a sale recorded before the shelf is counted is in expected, even dated after the entry by a till whose clock runs fast', async () => {
    const { m, store, item, api } = await shop({ stock: 10 })
    const till = createApi(hub).as((await m.staff('cashier')).token)
    await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
    const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    // Uploaded now, dated 2 minutes ahead (within what the hub takes as given): on-hand is 9 before anyone counts.
    const fast = new Date(Date.now() + 2 * 60_000).toISOString()
    const up = await till.post('/api/v1/sales/batch', { sales: [{ id: crypto.randomUUID(), occurredAt: fast, registerId: store.registerId, lines: [{ sku: item.sku, unitPrice: 1990 }], tenders: [{ kind: 'cash', amount: 1990 }] }] })
    expect(up.body.results[0]).toMatchObject({ status: 'accepted', warnings: [] })
    expect(await onHand(item.variantId, store.locationId)).toBe(9)
    // The shelf holds the 9: nothing is missing, and the sold unit does not come off again.
    await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 9 }] })
    const v = await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)
    expect(v.body.lines[0]).toMatchObject({ snapshotOnHand: 10, expected: 9, counted: 9, variance: 0 })
    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(posted.body.variance.lines[0]).toMatchObject({ expected: 9, variance: 0 })
    expect(await onHand(item.variantId, store.locationId)).toBe(9)
    // A sale rung up after the entry still stays off on-hand once posted, and is not in the count.
    expect((await till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })).status).toBe(201)
    expect(await onHand(item.variantId, store.locationId)).toBe(8)
  })

  it('a count posted with uncounted "zero" reads back as it was posted', async () => {
    const { store, item, api } = await shop({ stock: 10 })
    await seedProduct(hub, store, { price: 100, cost: 40, stock: 5 })
    const open = await api.post('/api/v1/stock/counts', { locationId: store.locationId })
    await api.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 9 }] })
    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, { uncounted: 'zero' })
    const back = await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)
    expect(back.body.totals).toEqual(posted.body.variance.totals)
    expect(back.body.lines).toEqual(posted.body.variance.lines)
    expect(back.body.uncounted).toEqual([])
  })

  it('entries of one variant add up, whether it is named by SKU, barcode or id', async () => {
    const { m, store, api, counter } = await shop()
    const item = await seedProduct(hub, store, { price: 500, stock: 9, barcodes: ['6901234567892'] })
    const open = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 4 }] })
    const second = await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, {
      lines: [
        { barcode: '6901234567892', quantity: 3 },
        { variantId: item.variantId, quantity: 0 },
      ],
    })
    expect(second.body.lines).toEqual([expect.objectContaining({ counted: 7, entries: 3 })])
    const got = await counter.get(`/api/v1/stock/counts/${open.body.id}`)
    expect(got.body).toMatchObject({ status: 'open', lines: [{ sku: item.sku, counted: 7, entries: 3 }] })
    const posted = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(posted.body.variance.lines[0]).toMatchObject({ expected: 9, counted: 7, variance: -2 })
    expect(await onHand(item.variantId, store.locationId)).toBe(7)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a count of some variants refuses another variant; a count of all takes one it did not have with a snapshot taken then', async () => {
    const { m, store, item, api, counter } = await shop({ stock: 10 })
    const other = await seedProduct(hub, store, { price: 100, stock: 5 })
    const some = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    const refused = await counter.post(`/api/v1/stock/counts/${some.body.id}/entries`, { lines: [{ sku: other.sku, quantity: 5 }] })
    expect(refused.status).toBe(422)
    expect(refused.body.error).toMatchObject({ code: 'variant_not_in_count', details: { variantIds: [other.variantId] } })
    expect((await api.post(`/api/v1/stock/counts/${some.body.id}/cancel`)).status).toBe(200)

    const all = await counter.post('/api/v1/stock/counts', { locationId: store.locationId })
    expect(all.body.lineCount).toBe(2)
    // A delivery of a new product arrives while the count is open; it is counted after it was shelved.
    const late = await seedProduct(hub, store, { price: 100 })
    await api.post('/api/v1/stock/receipts', { locationId: store.locationId, lines: [{ sku: late.sku, quantity: 4 }] })
    await tick()
    const entered = await counter.post(`/api/v1/stock/counts/${all.body.id}/entries`, {
      lines: [
        { sku: late.sku, quantity: 4 },
        { sku: item.sku, quantity: 10 },
      ],
    })
    expect(entered.status).toBe(200)
    expect(entered.body.lineCount).toBe(3)
    const variance = await api.get(`/api/v1/stock/counts/${all.body.id}/variance`)
    const late1 = variance.body.lines.find((l: any) => l.sku === late.sku)
    expect(late1).toMatchObject({ snapshotOnHand: 4, movedSinceSnapshot: 0, expected: 4, variance: 0 })
    expect(variance.body.uncounted).toEqual([{ variantId: other.variantId, sku: other.sku, name: expect.any(String), expected: 5 }])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('posting with uncounted "zero" writes off what nobody counted, while "ignore" leaves it', async () => {
    const { m, store, item, api, counter } = await shop({ stock: 10 })
    const missing = await seedProduct(hub, store, { price: 100, cost: 40, stock: 5 })
    const first = await counter.post('/api/v1/stock/counts', { locationId: store.locationId })
    await counter.post(`/api/v1/stock/counts/${first.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 10 }] })
    const ignored = await api.post(`/api/v1/stock/counts/${first.body.id}/post`, {})
    expect(ignored.body.variance.uncounted.map((u: any) => u.sku)).toEqual([missing.sku])
    expect(await onHand(missing.variantId, store.locationId)).toBe(5)

    const second = await counter.post('/api/v1/stock/counts', { locationId: store.locationId })
    await counter.post(`/api/v1/stock/counts/${second.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 10 }] })
    const zeroed = await api.post(`/api/v1/stock/counts/${second.body.id}/post`, { uncounted: 'zero' })
    expect(zeroed.status).toBe(200)
    expect(zeroed.body.variance.uncounted).toEqual([])
    expect(zeroed.body.variance.lines.find((l: any) => l.sku === missing.sku)).toMatchObject({ counted: 0, expected: 5, variance: -5, value: -200 })
    expect(await onHand(missing.variantId, store.locationId)).toBe(0)
    expect(await onHand(item.variantId, store.locationId)).toBe(10)
    // The posted count reads back as posted: the write-off, not its own movement taken for stock that moved.
    const report = await api.get(`/api/v1/stock/counts/${second.body.id}/variance`)
    expect(report.body.uncounted).toEqual([])
    expect(report.body.lines.find((l: any) => l.sku === missing.sku)).toMatchObject({ counted: 0, expected: 5, variance: -5, value: -200 })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('variance of weighed goods is valued per the cost unit, rounded half up away from zero', async () => {
    const { m, store, api, counter } = await shop()
    // ¥25.00 per kg, stocked in grams
    const cheese = await seedProduct(hub, store, { price: 3980, pricePer: 1000, cost: 2500, unit: 'g', stock: 2000 })
    const ham = await seedProduct(hub, store, { price: 3980, pricePer: 1000, cost: 2500, unit: 'g', stock: 1000 })
    const open = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [cheese.variantId, ham.variantId] })
    await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, {
      lines: [
        { sku: cheese.sku, quantity: 1667 },
        { sku: ham.sku, quantity: 1001 },
      ],
    })
    const v = await api.get(`/api/v1/stock/counts/${open.body.id}/variance`)
    const bySku = Object.fromEntries(v.body.lines.map((l: any) => [l.sku, l]))
    // −333 g × 2500 / 1000 = −832.5 → −833; +1 g → 2.5 → 3
    expect(bySku[cheese.sku]).toMatchObject({ variance: -333, costPer: 1000, value: -833 })
    expect(bySku[ham.sku]).toMatchObject({ variance: 1, value: 3 })
    expect(v.body.totals).toEqual({ quantity: { gains: 1, losses: -333, net: -332 }, value: { gains: 3, losses: -833, net: -830 }, unexplained: { quantity: -332, value: -830 } })
    await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(await onHand(cheese.variantId, store.locationId)).toBe(1667)
    expect(await onHand(ham.variantId, store.locationId)).toBe(1001)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a posted or cancelled count refuses entries, a second post and a cancel with 409', async () => {
    const { m, store, item, api, counter } = await shop()
    const open = await counter.post('/api/v1/stock/counts', { locationId: store.locationId })
    await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 8 }] })
    expect((await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})).status).toBe(200)
    const twice = await api.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(twice.status).toBe(409)
    expect(twice.body.error).toMatchObject({ code: 'count_not_open', details: { status: 'posted' } })
    expect((await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 1 }] })).status).toBe(409)
    expect((await api.post(`/api/v1/stock/counts/${open.body.id}/cancel`)).status).toBe(409)
    expect(await onHand(item.variantId, store.locationId)).toBe(8)

    const other = await counter.post('/api/v1/stock/counts', { locationId: store.locationId })
    const cancelled = await api.post(`/api/v1/stock/counts/${other.body.id}/cancel`)
    expect(cancelled.body.status).toBe('cancelled')
    expect((await counter.post(`/api/v1/stock/counts/${other.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 1 }] })).status).toBe(409)
    expect((await api.post(`/api/v1/stock/counts/${other.body.id}/post`, {})).status).toBe(409)
    expect(await onHand(item.variantId, store.locationId)).toBe(8)
    const list = await api.get(`/api/v1/stock/counts?locationId=${store.locationId}`)
    expect(list.body.items.map((c: any) => c.status)).toEqual(['cancelled', 'posted'])
    expect((await api.get(`/api/v1/stock/counts?status=posted`)).body.items.map((c: any) => c.id)).toEqual([open.body.id])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('two open counts never cover the same level', async () => {
    const { m, store, item, counter, api } = await shop()
    const other = await seedProduct(hub, store, { price: 100, stock: 1 })
    const all = await counter.post('/api/v1/stock/counts', { locationId: store.locationId })
    const clash = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    expect(clash.status).toBe(409)
    expect(clash.body.error).toMatchObject({ code: 'count_in_progress', details: { countIds: [all.body.id] } })
    await api.post(`/api/v1/stock/counts/${all.body.id}/cancel`)
    const a = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    expect(a.status).toBe(201)
    expect((await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [other.variantId] })).status).toBe(201)
    const overlap = await counter.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [other.variantId, item.variantId] })
    expect(overlap.status).toBe(409)
    expect((await counter.post('/api/v1/stock/counts', { locationId: store.locationId })).status).toBe(409)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('two counts of everything never open together, however the location id is spelled', async () => {
    const { api, store } = await shop()
    for (let i = 0; i < 5; i++) {
      const both = await Promise.all([
        api.post('/api/v1/stock/counts', { locationId: store.locationId }),
        api.post('/api/v1/stock/counts', { locationId: store.locationId.toUpperCase() }),
      ])
      expect(both.map((r) => r.status).sort()).toEqual([201, 409])
      const opened = both.find((r) => r.status === 201)!
      expect((await api.post(`/api/v1/stock/counts/${opened.body.id}/cancel`, {})).status).toBe(200)
    }
  })

  it('a cashier may open and enter a count but not post or cancel it', async () => {
    const { m, store, item, counter } = await shop()
    const open = await counter.post('/api/v1/stock/counts', { locationId: store.locationId })
    await counter.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 2 }] })
    const post = await counter.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect(post.status).toBe(403)
    expect(post.body.error).toMatchObject({ code: 'permission_denied', details: { permission: 'stock.count.post', role: 'cashier' } })
    expect((await counter.post(`/api/v1/stock/counts/${open.body.id}/cancel`)).status).toBe(403)
    expect((await counter.get(`/api/v1/stock/counts/${open.body.id}`)).body.status).toBe('open')
    expect(await onHand(item.variantId, store.locationId)).toBe(10)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it("merchant B can neither open a count at A's location nor read, enter or post A's count", async () => {
    const a = await shop()
    const b = await shop()
    const open = await a.counter.post('/api/v1/stock/counts', { locationId: a.store.locationId })
    const apiB = b.admin
    expect((await apiB.post('/api/v1/stock/counts', { locationId: a.store.locationId })).status).toBe(404)
    expect((await apiB.get(`/api/v1/stock/counts/${open.body.id}`)).status).toBe(404)
    expect((await apiB.get(`/api/v1/stock/counts/${open.body.id}/variance`)).status).toBe(404)
    expect((await apiB.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: b.item.sku, quantity: 1 }] })).status).toBe(404)
    expect((await apiB.post(`/api/v1/stock/counts/${open.body.id}/post`, {})).status).toBe(404)
    expect((await apiB.post(`/api/v1/stock/counts/${open.body.id}/cancel`)).status).toBe(404)
    expect((await apiB.get('/api/v1/stock/counts')).body.items).toEqual([])
    const foreignVariant = await apiB.post('/api/v1/stock/counts', { locationId: b.store.locationId, variantIds: [a.item.variantId] })
    expect(foreignVariant.status).toBe(422)
    expect((await a.api.get(`/api/v1/stock/counts/${open.body.id}`)).body.status).toBe('open')
    expect(await ledgerMismatches(hub, a.m.merchantId)).toEqual([])
  })

  it('an offline sale the posted count had already seen changes no stock, and the event feed says no stock changed', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1500, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const soldAt = new Date(Date.now() - 30_000)
    await new Promise((r) => setTimeout(r, 20))
    const open = await admin.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] })
    expect(open.status).toBe(201)
    // The shelf holds 9: the unit sold offline already left.
    await admin.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: item.sku, quantity: 9 }] })
    expect((await admin.post(`/api/v1/stock/counts/${open.body.id}/post`, {})).status).toBe(200)
    const levelBefore = (await admin.get(`/api/v1/stock/levels?variantId=${item.variantId}&locationId=${store.locationId}`)).body.items[0]
    expect(levelBefore.onHand).toBe(9)
    const before = (await admin.get('/api/v1/events?limit=500')).body.items.length
    const r = await admin.post('/api/v1/sales/batch', { sales: [{ id: randomUUID(), occurredAt: soldAt.toISOString(), registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1, unitPrice: 1500 }], tenders: [{ kind: 'card', amount: 1500 }] }] })
    expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
    const levelAfter = (await admin.get(`/api/v1/stock/levels?variantId=${item.variantId}&locationId=${store.locationId}`)).body.items[0]
    expect(levelAfter.onHand).toBe(9)
    const ev = (await admin.get('/api/v1/events?limit=500')).body.items.slice(before)
    expect(ev.map((e: any) => e.type)).toEqual(['sale.completed'])
  })
})
