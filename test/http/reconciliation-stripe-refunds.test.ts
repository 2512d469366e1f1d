// Stripe refunds against the till's refunds. A refund made on the reader or in the Stripe console carries no metadata
// of ours: its balance transaction names the payment only by its PaymentIntent, which no till tender carries. It pairs
// with the till's refund of that payment through the line of the original charge (which carries our payment number),
// on the amount; a refund of a payment the hub never saw, or of another payment, stays unpaired.
import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { useTestHub, type TestHub } from '../helpers/db.ts'
import { balanceTxn, stripeBalanceShop } from '../helpers/stripe-balance.ts'

const TZ = 'America/New_York'
const D1 = '2026-03-20'
const D2 = '2026-03-21'
// EDT: UTC-4
const at = (day: string, local: string) => new Date(`${day}T${local}-04:00`)
/** A card charge's balance transaction, its source expanded as the fetch stores it. */
const charge = (id: string, created: Date, amount: number, fee: number, meta: Record<string, string>) =>
  balanceTxn({ id, created, amount, fee, currency: 'usd', type: 'charge', category: 'charge', source: { id: `ch_${id}`, object: 'charge', payment_intent: `pi_${id}`, metadata: meta } })
/** A refund's balance transaction; `meta` is the refund object's own metadata (none when made on the reader or console). */
const refund = (id: string, ofCharge: string, created: Date, amount: number, meta: Record<string, string> = {}) =>
  balanceTxn({
    id, created, amount: -amount, fee: 0, currency: 'usd', type: 'refund', category: 'refund',
    source: { id: `re_${id}`, object: 'refund', payment_intent: `pi_${ofCharge}`, charge: `ch_${ofCharge}`, status: 'succeeded', metadata: meta },
  })

const ALL_OUTCOMES = 'matched,amount_diff,missing_in_pos,missing_in_channel,timing,fee_diff,duplicate,status_diff,unknown_merchant_ref,currency_diff'

type RefundItem = {
  outcome: string
  pos_amount: number | null
  channel_amount: number | null
  pos_ref: string | null
  refund_id: string | null
}

async function shop(hub: TestHub) {
  const s = await stripeBalanceShop(hub, { currency: 'USD', timeZone: TZ, grouping: 'merchant', openedAt: at(D1, '08:00:00') })
  const { m, api, store, connectionId } = s
  return {
    ...s,
    /** Gives back `amount` of a sale at the till; answers the refund's number. */
    refundAtTill: (when: Date, sale: any, amount: number) =>
      s.at(when, async () => {
        const r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: amount }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        const refundNo: string | undefined = (r.body.sale.refunds ?? []).flatMap((x: any) => x.tenders ?? []).map((t: any) => t.refundNo).find(Boolean)
        expect(refundNo).toBeTruthy()
        return refundNo!
      }),
    /** Every exception of the connection, open or resolved. */
    exceptions: async () => {
      const ex = await api.get(`/api/v1/reconciliation/exceptions?connectionId=${connectionId}&state=all&outcome=${ALL_OUTCOMES}`)
      expect(ex.status, JSON.stringify(ex.body)).toBe(200)
      return ex.body.items as any[]
    },
    /** The items of refunds, on either side: the till's refund tenders and the channel's refund lines. */
    refundItems: async () =>
      (
        await hub.database.db.execute<RefundItem>(sql`
          select i.outcome, i.pos_amount::int, i.channel_amount::int, i.pos_ref, l.channel_refund_id as refund_id
            from recon_items i left join settlement_lines l on l.id = i.line_id
           where i.merchant_id = ${m.merchantId} and i.connection_id = ${connectionId} and (i.pos_kind = 'refund_tender' or l.kind = 'refund')
           order by i.outcome, l.channel_refund_id nulls last`)
      ).rows,
  }
}

describe('Stripe refunds without our metadata', () => {
  const hub = useTestHub()

  it('a refund made on the reader on a later day pairs with the till refund of that payment, by the charge it refunds', async () => {
    const s = await shop(hub)
    const sale = await s.sell(at(D1, '10:00:00'), 10000, 'US-0001')
    await s.sell(at(D1, '11:00:00'), 5000, 'US-0002')
    const refundNo = await s.refundAtTill(at(D2, '12:00:00'), sale, 3000)
    await s.upload(D1, [charge('A1', at(D1, '10:00:05'), 10000, 320, { payment_no: 'US-0001' }), charge('A2', at(D1, '11:00:05'), 5000, 175, { payment_no: 'US-0002' })])
    expect((await s.run(D1)).counts).toMatchObject({ matched: 2, open: 0 })
    await s.upload(D2, [refund('R1', 'A1', at(D2, '12:00:05'), 3000)])
    const r2 = await s.run(D2)
    expect(r2.counts).toMatchObject({ matched: 1, open: 0, open_exceptions: 0 })
    expect(r2.totals).toMatchObject({ pos_refunds: 3000, channel_refunds: 3000, difference: 0 })
    expect(await s.refundItems()).toEqual([{ outcome: 'matched', pos_amount: 3000, channel_amount: 3000, pos_ref: refundNo, refund_id: 're_R1' }])
    expect(await s.exceptions()).toEqual([])
  })

  it('a refund in the same file as its charge pairs too', async () => {
    const s = await shop(hub)
    const sale = await s.sell(at(D1, '10:00:00'), 8000, 'US-0003')
    const refundNo = await s.refundAtTill(at(D1, '15:00:00'), sale, 8000)
    await s.upload(D1, [charge('B1', at(D1, '10:00:05'), 8000, 262, { payment_no: 'US-0003' }), refund('R2', 'B1', at(D1, '15:00:05'), 8000)])
    expect((await s.run(D1)).counts).toMatchObject({ matched: 2, open: 0 })
    expect(await s.refundItems()).toEqual([{ outcome: 'matched', pos_amount: 8000, channel_amount: 8000, pos_ref: refundNo, refund_id: 're_R2' }])
  })

  it('a refund of another payment of the same amount, or of a charge the hub never saw, stays unpaired', async () => {
    const s = await shop(hub)
    const sale = await s.sell(at(D1, '10:00:00'), 10000, 'US-0001')
    await s.sell(at(D1, '11:00:00'), 5000, 'US-0002')
    const refundNo = await s.refundAtTill(at(D2, '12:00:00'), sale, 3000)
    await s.upload(D1, [charge('A1', at(D1, '10:00:05'), 10000, 320, { payment_no: 'US-0001' }), charge('A2', at(D1, '11:00:05'), 5000, 175, { payment_no: 'US-0002' })])
    await s.run(D1)
    // The till gave back 30.00 of US-0001; Stripe refunded 30.00 of US-0002 and 30.00 of a charge of no statement.
    await s.upload(D2, [refund('R2', 'A2', at(D2, '12:00:05'), 3000), refund('R9', 'ZZ', at(D2, '12:00:06'), 3000)])
    const r2 = await s.run(D2)
    expect(r2.counts).toMatchObject({ matched: 0, missing_in_pos: 2, timing: 1 })
    expect(await s.refundItems()).toEqual([
      { outcome: 'missing_in_pos', pos_amount: null, channel_amount: 3000, pos_ref: null, refund_id: 're_R2' },
      { outcome: 'missing_in_pos', pos_amount: null, channel_amount: 3000, pos_ref: null, refund_id: 're_R9' },
      { outcome: 'timing', pos_amount: 3000, channel_amount: null, pos_ref: refundNo, refund_id: null },
    ])
  })

  it('the itemized report, which names the refunded payment in its metadata, pairs the same refund', async () => {
    const s = await shop(hub)
    const sale = await s.sell(at(D1, '10:00:00'), 10000, 'US-0001')
    await s.sell(at(D1, '11:00:00'), 5000, 'US-0002')
    await s.refundAtTill(at(D2, '12:00:00'), sale, 3000)
    const head = 'balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,source_id,charge_id,payment_intent_id,payment_metadata[payment_no]'
    const day = async (date: string, rows: string[]) => {
      const up = await s.api.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId: s.connectionId, date, format: 'stripe_itemized', fileName: 'itemized.csv' })}`, undefined, {
        raw: [head, ...rows].join('\n'),
        headers: { 'content-type': 'text/csv' },
      })
      expect(up.status, JSON.stringify(up.body)).toBe(201)
      return s.run(date)
    }
    const r1 = await day(D1, [`txn_A1,${D1} 14:00:05,charge,usd,100.00,3.20,96.80,ch_A1,ch_A1,pi_A1,US-0001`, `txn_A2,${D1} 15:00:05,charge,usd,50.00,1.75,48.25,ch_A2,ch_A2,pi_A2,US-0002`])
    const r2 = await day(D2, [`txn_R1,${D2} 16:00:05,refund,usd,-30.00,0.00,-30.00,re_R1,ch_A1,pi_A1,US-0001`])
    expect([r1.counts.matched, r2.counts.matched, r2.counts.open]).toEqual([2, 1, 0])
  })
})
