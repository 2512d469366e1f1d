// Stripe's own fees that come as balance transactions of their own (Radar, Terminal, billing: type stripe_fee,
// reporting category fee) are taken from the balance, and so from the payout, like the fees on the charges. They count
// in the day's channel fee on the run, the reconciliation summary and the daily voucher (fee against the card
// account), each drilled down to its line; a fee of no store is the merchant's only store's.
import { describe, expect, it } from 'vitest'
import { useTestHub, type TestHub } from '../helpers/db.ts'
import { balanceTxn, stripeBalanceShop } from '../helpers/stripe-balance.ts'
import { seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { buildDay } from '../../src/jobs/vouchers.ts'

const chargeSrc = (id: string, paymentNo: string) => ({ id: `ch_${id}`, object: 'charge', payment_intent: `pi_${id}`, metadata: { payment_no: paymentNo } })
/** A USD card charge with our payment number. */
const usdCharge = (id: string, created: Date, amount: number, fee: number, paymentNo: string) =>
  balanceTxn({ id, created, amount, fee, currency: 'usd', type: 'charge', category: 'charge', source: chargeSrc(id, paymentNo) })
/** A Radar (or Terminal, billing) fee: money Stripe takes from the balance, of no charge and no store. */
const stripeFee = (id: string, created: Date, amount: number) => balanceTxn({ id, created, amount: -amount, fee: 0, currency: 'usd', type: 'stripe_fee', category: 'fee', source: null })

type Line = { lineNo: number; kind: string; accountKey: string; debit: number; credit: number }
const feeLines = (lines: Line[]) => lines.filter((l) => l.kind === 'channel_fee').map((l) => [l.accountKey, l.debit, l.credit])

async function setup(hub: TestHub, o: { currency: string; timeZone: string; grouping: 'store' | 'merchant'; stores?: number }) {
  const shop = await stripeBalanceShop(hub, { ...o, openedAt: new Date('2026-03-19T00:00:00Z') })
  const { api, connectionId } = shop
  return {
    ...shop,
    /** The day's summary rows of the connection: [store, channel fee in minor units]. */
    summaryFees: async (date: string) => {
      const s = await api.get(`/api/v1/reconciliation/summary?from=${date}&to=${date}&connectionId=${connectionId}`)
      expect(s.status, JSON.stringify(s.body)).toBe(200)
      return (s.body.items as any[]).map((r) => [r.storeId, r.channelFeeMilli / 1000])
    },
    preview: async (date: string, storeId?: string) => {
      const v = await api.post('/api/v1/vouchers/preview', storeId ? { date, storeId } : { date })
      expect(v.status, JSON.stringify(v.body)).toBe(200)
      expect(v.body.totalDebit, 'the voucher balances').toBe(v.body.totalCredit)
      return v.body as { lines: Line[]; totalDebit: number; totalCredit: number }
    },
  }
}

describe('Stripe fees of their own', () => {
  const hub = useTestHub()
  const ny = (d: string, hms: string) => new Date(`${d}T${hms}-04:00`)

  it("a Radar fee counts in the day's channel fee on the run, the summary and the voucher, drilled down to its line; the payout carrying it balances", async () => {
    const t = await setup(hub, { currency: 'USD', timeZone: 'America/New_York', grouping: 'merchant' })
    const D1 = '2026-03-20'
    const D2 = '2026-03-21'
    await t.sell(ny(D1, '10:00:00'), 10000, 'FP-0001')
    await t.sell(ny(D2, '10:00:00'), 5000, 'FP-0002')
    const c1 = usdCharge('C1', ny(D1, '10:00:05'), 10000, 320, 'FP-0001')
    const radar = stripeFee('F1', ny(D1, '18:00:00'), 500)
    await t.upload(D1, [c1, radar])
    const r1 = await t.run(D1)
    // The fee pairs with nothing of the till's: the charge is the day's one match, and nothing is left open.
    expect(r1.counts).toMatchObject({ matched: 1, open: 0, open_exceptions: 0 })
    // The next day's automatic payout pays out both days' transactions, the Radar fee taken off.
    const c2 = usdCharge('C2', ny(D2, '10:00:05'), 5000, 175, 'FP-0002')
    const net = c1.net + radar.net + c2.net
    const payout = balanceTxn({ id: 'P1', created: ny(D2, '20:00:00'), amount: -net, fee: 0, currency: 'usd', type: 'payout', category: 'payout', source: { id: 'po_P1', object: 'payout', automatic: true, status: 'paid' } })
    const member = (o: object) => ({ ...o, payout_member_of: 'po_P1' })
    await t.upload(D2, [c2, payout, member(c1), member(radar), member(c2)])
    const r2 = await t.run(D2)
    expect(r2.counts.open_exceptions, JSON.stringify(r2)).toBe(0)

    // Stripe took 3.20 on the charge and 5.00 for Radar on D1.
    expect(r1.totals.channel_fee_milli).toBe(820_000)
    expect(await t.summaryFees(D1)).toEqual([[t.stores[0]!.storeId, 820]])
    expect(feeLines((await t.preview(D1)).lines)).toEqual([
      ['fee', 820, 0],
      ['tender:card', 0, 820],
    ])
    expect(r2.totals.channel_fee_milli).toBe(175_000)
    // The day run again counts the fee once.
    expect((await t.run(D1)).totals.channel_fee_milli).toBe(820_000)

    const built = await t.api.post('/api/v1/vouchers/build', { date: D1 })
    expect(built.status, JSON.stringify(built.body)).toBe(200)
    const v = (await t.api.get(`/api/v1/vouchers/${built.body.voucher.id}`)).body
    const debit = (v.lines as Line[]).find((l) => l.kind === 'channel_fee' && l.debit > 0)!
    const d = (await t.api.get(`/api/v1/vouchers/${v.id}/lines/${debit.lineNo}/sources`)).body
    const records = (d.records as any[]).map((r) => [r.detail.lineKind, r.ref, r.amount]).sort((a, b) => a[2] - b[2])
    expect(records).toEqual([
      ['payment', 'FP-0001', 320],
      ['fee', 'txn_F1', 500],
    ])
  })

  it('JPY (no decimals): balance transaction amounts are yen, matched as such; fees on run and voucher agree', async () => {
    const t = await setup(hub, { currency: 'JPY', timeZone: 'Asia/Tokyo', grouping: 'merchant' })
    const D = '2026-03-20'
    const tk = (hms: string) => new Date(`${D}T${hms}+09:00`)
    await t.sell(tk('10:00:00'), 1200, 'JP-0001')
    await t.sell(tk('11:00:00'), 999, 'JP-0002')
    await t.upload(D, [
      balanceTxn({ id: 'J1', created: tk('10:00:05'), amount: 1200, fee: 43, currency: 'jpy', type: 'charge', category: 'charge', source: chargeSrc('J1', 'JP-0001') }),
      balanceTxn({ id: 'J2', created: tk('11:00:05'), amount: 999, fee: 36, currency: 'jpy', type: 'charge', category: 'charge', source: chargeSrc('J2', 'JP-0002') }),
      balanceTxn({ id: 'J3', created: tk('20:00:00'), amount: -150, fee: 0, currency: 'jpy', type: 'stripe_fee', category: 'fee', source: null }),
    ])
    const r = await t.run(D)
    expect([r.counts.matched, r.counts.open, r.totals.channel_payments, r.totals.pos_payments]).toEqual([2, 0, 2199, 2199])
    expect(r.totals.channel_fee_milli / 1000).toBe(229)
    expect(feeLines((await t.preview(D)).lines)).toEqual([
      ['fee', 229, 0],
      ['tender:card', 0, 229],
    ])
  })

  it("with vouchers per store, a fee of no store is the merchant's only store's, on a day of nothing else too", async () => {
    const t = await setup(hub, { currency: 'USD', timeZone: 'America/New_York', grouping: 'store' })
    const D1 = '2026-03-20'
    const D2 = '2026-03-21'
    const storeId = t.stores[0]!.storeId
    await t.sell(ny(D1, '10:00:00'), 10000, 'ST-0001')
    await t.upload(D1, [usdCharge('S1', ny(D1, '10:00:05'), 10000, 320, 'ST-0001'), stripeFee('S2', ny(D1, '18:00:00'), 500)])
    await t.run(D1)
    await t.upload(D2, [stripeFee('S3', ny(D2, '09:00:00'), 1500)])
    expect((await t.run(D2)).totals.channel_fee_milli).toBe(1_500_000)

    expect(feeLines((await t.preview(D1, storeId)).lines)).toEqual([
      ['fee', 820, 0],
      ['tender:card', 0, 820],
    ])
    const only = await t.preview(D2, storeId)
    expect(feeLines(only.lines)).toEqual([
      ['fee', 1500, 0],
      ['tender:card', 0, 1500],
    ])
    expect([only.totalDebit, only.totalCredit]).toEqual([1500, 1500])
    expect(await t.summaryFees(D2)).toEqual([[storeId, 1500]])
  })

  it('with several stores, a fee of no store counts in the run and the summary (under no store), and in no store\'s voucher', async () => {
    const t = await setup(hub, { currency: 'USD', timeZone: 'America/New_York', grouping: 'store', stores: 2 })
    const D = '2026-03-20'
    await t.sell(ny(D, '10:00:00'), 10000, 'MS-0001')
    await t.upload(D, [usdCharge('M1', ny(D, '10:00:05'), 10000, 320, 'MS-0001'), stripeFee('M2', ny(D, '18:00:00'), 500)])
    expect((await t.run(D)).totals.channel_fee_milli).toBe(820_000)
    const summary = await t.summaryFees(D)
    expect(summary.sort((a, b) => Number(a[1]) - Number(b[1]))).toEqual([
      [t.stores[0]!.storeId, 320],
      [null, 500],
    ])
    expect(feeLines((await t.preview(D, t.stores[0]!.storeId)).lines)).toEqual([
      ['fee', 320, 0],
      ['tender:card', 0, 320],
    ])
    expect(feeLines((await t.preview(D, t.stores[1]!.storeId)).lines)).toEqual([])
  })

  it('with several stores and vouchers.noStoreTo naming one, that store\'s voucher books the fee of no store, built on a day of nothing else there too', async () => {
    const t = await setup(hub, { currency: 'USD', timeZone: 'America/New_York', grouping: 'store', stores: 2 })
    const [a, b] = [t.stores[0]!.storeId, t.stores[1]!.storeId]
    // Only one of the merchant's stores can be named.
    const other = await seedMerchant(hub)
    const foreign = await seedStore(hub, other.merchantId)
    const refused = await t.api.patch('/api/v1/merchant/settings', { vouchers: { noStoreTo: foreign.storeId } })
    expect(refused.status).toBe(422)
    expect(refused.body.error).toMatchObject({ code: 'store_not_found', details: { field: 'vouchers.noStoreTo' } })
    const set = await t.api.patch('/api/v1/merchant/settings', { vouchers: { noStoreTo: b } })
    expect(set.status, JSON.stringify(set.body)).toBe(200)
    expect(set.body.vouchers).toMatchObject({ grouping: 'store', noStoreTo: b })

    const D = '2026-03-20'
    await t.sell(ny(D, '10:00:00'), 10000, 'NS-0001')
    await t.upload(D, [usdCharge('N1', ny(D, '10:00:05'), 10000, 320, 'NS-0001'), stripeFee('N2', ny(D, '18:00:00'), 500)])
    expect((await t.run(D)).totals.channel_fee_milli).toBe(820_000)
    // The summary still shows the fee as of no store: it is the books that take it to the store named.
    expect((await t.summaryFees(D)).sort((x, y) => Number(x[1]) - Number(y[1]))).toEqual([
      [a, 320],
      [null, 500],
    ])
    expect(feeLines((await t.preview(D, a)).lines)).toEqual([
      ['fee', 320, 0],
      ['tender:card', 0, 320],
    ])
    const ofB = await t.preview(D, b)
    expect(feeLines(ofB.lines)).toEqual([
      ['fee', 500, 0],
      ['tender:card', 0, 500],
    ])
    expect([ofB.totalDebit, ofB.totalCredit]).toEqual([500, 500])

    // The day's build (as the schedule runs it) makes store B's voucher, though B sold nothing; its fee line drills
    // down to the Radar fee.
    const built = await buildDay(hub, t.m.merchantId, D)
    expect(built.map((r) => [r.voucher?.storeId, r.outcome]).sort()).toEqual([a, b].sort().map((s) => [s, 'created']))
    const day = await t.api.get(`/api/v1/vouchers?from=${D}&to=${D}&storeId=${b}`)
    expect(day.body.items).toHaveLength(1)
    const v = (await t.api.get(`/api/v1/vouchers/${day.body.items[0].id}`)).body
    const debit = (v.lines as Line[]).find((l) => l.kind === 'channel_fee' && l.debit > 0)!
    const d = (await t.api.get(`/api/v1/vouchers/${v.id}/lines/${debit.lineNo}/sources`)).body
    expect((d.records as any[]).map((r) => [r.detail.lineKind, r.ref, r.amount])).toEqual([['fee', 'txn_N2', 500]])
  })
})
