// A Stripe automatic payout names the transactions it paid out (`payout_member_of`), and its deposit is checked
// against their lines. When the payout's day is imported before the day of the transactions it paid out (that day's
// download failed and came in later), the lines of the later import join the payout they belong to, and the payout's
// day is reconciled again: its item goes from `amount_diff` to matched without anyone importing the payout again.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { balanceTxn, stripeBalanceShop } from '../helpers/stripe-balance.ts'

const ny = (d: string, hms: string) => new Date(`${d}T${hms}-04:00`)
const charge = (id: string, created: Date, amount: number, fee: number, paymentNo: string) =>
  balanceTxn({ id, created, amount, fee, currency: 'usd', type: 'charge', category: 'charge', source: { id: `ch_${id}`, object: 'charge', payment_intent: `pi_${id}`, metadata: { payment_no: paymentNo } } })
const refund = (id: string, created: Date, amount: number, chargeId: string) =>
  balanceTxn({ id, created, amount: -amount, fee: 0, currency: 'usd', type: 'refund', category: 'refund', source: { id: `re_${id}`, object: 'refund', charge: `ch_${chargeId}`, payment_intent: `pi_${chargeId}` } })
const payoutOf = (id: string, created: Date, net: number) =>
  balanceTxn({ id, created, amount: -net, fee: 0, currency: 'usd', type: 'payout', category: 'payout', source: { id: `po_${id}`, object: 'payout', automatic: true, status: 'paid' } })
const memberOf = (payout: string) => (o: object) => ({ ...o, payout_member_of: `po_${payout}` })
/** A dispute's balance transactions: the money taken (with its fee) and given back when it is won share the dispute as their source. */
const disputeMove = (id: string, created: Date, amount: number, fee: number, category: 'dispute' | 'dispute_reversal', chargeId: string) =>
  balanceTxn({ id, created, amount, fee, currency: 'usd', type: 'adjustment', category, source: { id: `dp_${chargeId}`, object: 'dispute', charge: `ch_${chargeId}`, payment_intent: `pi_${chargeId}`, status: 'won' } })

describe('a Stripe payout imported before the days it paid out', () => {
  const hub = useTestHub()
  const D1 = '2026-03-20'
  const D2 = '2026-03-21'
  const D3 = '2026-03-22'

  async function shop() {
    const t = await stripeBalanceShop(hub, { currency: 'USD', timeZone: 'America/New_York', grouping: 'merchant', openedAt: new Date('2026-03-19T00:00:00Z') })
    const payouts = async (date: string) => {
      const r = await t.api.get(`/api/v1/reconciliation/exceptions?${new URLSearchParams({ connectionId: t.connectionId, from: date, to: date, state: 'all' })}`)
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return (r.body.items as any[]).filter((i) => i.posKind === 'payout').map((i) => [i.posRef, i.outcome, i.state, i.difference])
    }
    return { ...t, payouts }
  }

  it('the late day joins the payout, which is reconciled again and matches', async () => {
    const t = await shop()
    await t.sell(ny(D1, '10:00:00'), 10000, 'PO-0001')
    await t.sell(ny(D2, '10:00:00'), 5000, 'PO-0002')
    const c1 = charge('C1', ny(D1, '10:00:05'), 10000, 320, 'PO-0001')
    const c2 = charge('C2', ny(D2, '10:00:05'), 5000, 175, 'PO-0002')
    const payout = payoutOf('P1', ny(D2, '20:00:00'), c1.net + c2.net)
    const member = memberOf('P1')

    // D1's download failed: D2 comes in first, its payout carrying D1's charge that is not here yet.
    await t.upload(D2, [c2, payout, member(c1), member(c2)])
    await drainJobs(hub)
    expect(await t.payouts(D2)).toEqual([['po_P1', 'amount_diff', 'open', c1.net]])

    // D1 comes in: its charge joins the payout, and D2 is run again by the queue.
    await t.upload(D1, [c1])
    await drainJobs(hub)
    expect(await t.payouts(D2)).toEqual([])
    const item = await t.api.get(`/api/v1/reconciliation/exceptions?${new URLSearchParams({ connectionId: t.connectionId, from: D1, to: D2 })}`)
    expect(item.body.items, 'nothing open on either day').toEqual([])
  })

  it("an earlier day's charges and refund join the payouts of two later days, each its own", async () => {
    const t = await shop()
    const s1 = await t.sell(ny(D1, '10:00:00'), 10000, 'PO-0011')
    await t.sell(ny(D1, '11:00:00'), 3000, 'PO-0012')
    await t.at(ny(D1, '15:00:00'), async () => {
      const r = await t.api.post(`/api/v1/sales/${s1.id}/refunds`, { registerId: t.store.registerId, lines: [{ saleLineId: s1.lines[0].id, quantity: 2000 }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
    })
    const c1 = charge('C11', ny(D1, '10:00:05'), 10000, 320, 'PO-0011')
    const c2 = charge('C12', ny(D1, '11:00:05'), 3000, 117, 'PO-0012')
    const r1 = refund('R11', ny(D1, '15:00:05'), 2000, 'C11')
    // Two payouts: P2 on D2 paid out the first charge, P3 on D3 the second and the refund. D1 comes in last.
    const p2 = payoutOf('P2', ny(D2, '20:00:00'), c1.net)
    const p3 = payoutOf('P3', ny(D3, '20:00:00'), c2.net + r1.net)
    await t.upload(D2, [p2, memberOf('P2')(c1)])
    await t.upload(D3, [p3, memberOf('P3')(c2), memberOf('P3')(r1)])
    await drainJobs(hub)
    expect(await t.payouts(D2)).toEqual([['po_P2', 'amount_diff', 'open', c1.net]])
    expect(await t.payouts(D3)).toEqual([['po_P3', 'amount_diff', 'open', c2.net + r1.net]])

    await t.upload(D1, [c1, c2, r1])
    await drainJobs(hub)
    expect(await t.payouts(D2)).toEqual([])
    expect(await t.payouts(D3)).toEqual([])
    const open = await t.api.get(`/api/v1/reconciliation/exceptions?${new URLSearchParams({ connectionId: t.connectionId, from: D1, to: D3 })}`)
    expect(open.body.items).toEqual([])
  })

  it('a dispute and its reversal (one source) in two payouts, their days coming in after the later payout: each payout takes its own', async () => {
    const t = await shop()
    const D4 = '2026-03-23'
    await t.sell(ny(D1, '09:00:00'), 20000, 'PO-0030')
    await t.sell(ny(D1, '10:00:00'), 10000, 'PO-0031')
    await t.sell(ny(D3, '10:00:00'), 5000, 'PO-0033')
    const c0 = charge('C30', ny(D1, '09:00:05'), 20000, 610, 'PO-0030')
    const c1 = charge('C31', ny(D1, '10:00:05'), 10000, 320, 'PO-0031')
    const lost = disputeMove('DP1', ny(D1, '18:00:00'), -10000, 1500, 'dispute', 'C31')
    const won = disputeMove('DP2', ny(D3, '09:00:00'), 10000, 0, 'dispute_reversal', 'C31')
    const c3 = charge('C33', ny(D3, '10:00:05'), 5000, 175, 'PO-0033')
    const p1 = payoutOf('P21', ny(D2, '20:00:00'), c0.net + c1.net + lost.net)
    const p2 = payoutOf('P22', ny(D4, '20:00:00'), won.net + c3.net)
    // D1 and D4 come in; D2 and D3 failed and come in afterwards.
    await t.upload(D1, [c0, c1, lost])
    await t.upload(D4, [p2, memberOf('P22')(won), memberOf('P22')(c3)])
    await t.upload(D2, [p1, memberOf('P21')(c0), memberOf('P21')(c1), memberOf('P21')(lost)])
    await t.upload(D3, [won, c3])
    await drainJobs(hub)
    expect(await t.payouts(D2)).toEqual([])
    expect(await t.payouts(D4)).toEqual([])
  })

  it('a payout that failed comes back to the balance and is paid out again by the next one: no sales money, nothing open', async () => {
    const t = await shop()
    const D4 = '2026-03-23'
    await t.sell(ny(D1, '10:00:00'), 10000, 'PO-0051')
    await t.sell(ny(D3, '10:00:00'), 4000, 'PO-0053')
    const c1 = charge('C51', ny(D1, '10:00:05'), 10000, 320, 'PO-0051')
    const p1 = payoutOf('P51', ny(D2, '20:00:00'), c1.net)
    // The bank refused P51: Stripe puts its money back (a payout_failure, reporting category payout_reversal).
    const back = balanceTxn({ id: 'PF51', created: ny(D3, '08:00:00'), amount: c1.net, fee: 0, currency: 'usd', type: 'payout_failure', category: 'payout_reversal', source: { id: 'po_P51', object: 'payout', automatic: true, status: 'failed' } })
    const c3 = charge('C53', ny(D3, '10:00:05'), 4000, 146, 'PO-0053')
    const p2 = payoutOf('P52', ny(D4, '20:00:00'), back.net + c3.net)
    await t.upload(D1, [c1])
    await t.upload(D2, [p1, memberOf('P51')(c1)])
    await t.upload(D3, [back, c3])
    await t.upload(D4, [p2, memberOf('P52')(back), memberOf('P52')(c3)])
    await drainJobs(hub)
    for (const d of [D2, D4]) expect(await t.payouts(d), d).toEqual([])
    const open = await t.api.get(`/api/v1/reconciliation/exceptions?${new URLSearchParams({ connectionId: t.connectionId, from: D1, to: D4 })}`)
    expect(open.body.items).toEqual([])
    // The channel's money of the days is the till's: the returned payout is no sale.
    const summary = await t.api.get(`/api/v1/reconciliation/summary?from=${D1}&to=${D4}&connectionId=${t.connectionId}`)
    const sum = (k: string) => (summary.body.items as any[]).reduce((n, r) => n + r[k], 0)
    expect([sum('posAmount'), sum('channelAmount')]).toEqual([14000, 14000])
  })

  it('a payout in another currency than the transactions it lists is not matched: currency_diff', async () => {
    const t = await shop()
    await t.sell(ny(D1, '10:00:00'), 10000, 'PO-0041')
    const c1 = charge('C41', ny(D1, '10:00:05'), 10000, 320, 'PO-0041')
    const eur = { ...payoutOf('P41', ny(D2, '20:00:00'), c1.net), currency: 'eur' }
    await t.upload(D1, [c1])
    await t.upload(D2, [eur, memberOf('P41')(c1)])
    await drainJobs(hub)
    expect(await t.payouts(D2)).toEqual([['po_P41', 'currency_diff', 'open', expect.any(Number)]])
  })
})
