import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { seedProduct, seedStore } from '../../helpers/pos.ts'
import { reconcileDay, type ReconcileDayInput } from '../../../src/core/reconciliation/match.ts'
import { importStatement, recordEmptyStatement } from '../../../src/core/reconciliation/import.ts'
import { at, importLines, itemOf, items, line, openShop, paid, refund, refunded, sell, statementOf, TZ, type Shop } from './helpers.ts'
import { contentInMemory } from '../../../src/core/reconciliation/file.ts'
import { dailySummary } from '../../../src/core/reconciliation/queries.ts'

describe('reconciling a day', () => {
  const hub = useTestHub()

  const run = (shop: Shop, date: string, extra: Partial<ReconcileDayInput> = {}) =>
    reconcileDay(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: date, tenderKinds: ['wechat'], timeZone: TZ, ...extra })

  it('matches payments and refunds by our numbers and balances the day', async () => {
    const shop = await openShop(hub)
    const s1 = await sell(hub, shop, at('2026-11-10 09:12:05'), 5800)
    const s2 = await sell(hub, shop, at('2026-11-10 10:00:00'), [{ amount: 1000 }, { kind: 'cash', amount: 500 }])
    const r1 = await refund(hub, shop, at('2026-11-10 15:40:22'), s1, 2000)
    const w1 = s1.tenders[0]!
    const w2 = s2.tenders.find((t) => t.kind === 'wechat')!
    const imported = await importLines(hub, shop, '2026-11-10', [
      paid(w1, at('2026-11-10 09:12:06')),
      paid(w2, at('2026-11-10 10:00:01')),
      refunded(r1.tenders[0]!, at('2026-11-10 15:40:23')),
    ])
    expect(imported.status).toBe('imported')
    const started = Date.now()
    const result = await run(shop, '2026-11-10')
    expect(result).toMatchObject({ status: 'balanced', reused: false })
    expect(result.counts).toMatchObject({ matched: 3, open_exceptions: 0 })
    expect(result.totals).toMatchObject({ pos_payments: 6800, pos_refunds: 2000, channel_payments: 6800, channel_refunds: 2000, difference: 0 })
    const all = await items(hub, shop)
    expect(all).toHaveLength(3)
    expect(all.every((i) => i.outcome === 'matched' && i.state === 'auto' && i.line_id !== null)).toBe(true)
    // Item ids are UUIDv7: version 7, the RFC variant, the run's time in front, all distinct.
    expect(new Set(all.map((i) => i.id)).size).toBe(3)
    for (const { id } of all) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16)
      expect(ms >= started && ms <= Date.now()).toBe(true)
    }
    const cash = await hub.database.db.execute(sql`select 1 from recon_items where merchant_id = ${shop.m.merchantId} and pos_kind = 'sale_tender' and pos_id = ${s2.tenders.find((t) => t.kind === 'cash')!.id}`)
    expect(cash.rows).toHaveLength(0)
  })

  const empty = (shop: Shop, date: string) =>
    recordEmptyStatement(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: date, message: 'No Bill Exist' })

  const events = async (shop: Shop, type: string) =>
    (await hub.database.db.execute<{ entity_id: string; data: any }>(sql`select entity_id, data from events where merchant_id = ${shop.m.merchantId} and type = ${type} order by id`)).rows

  it('a payment just before midnight that the channel books after midnight is timing on its day and matched the next', async () => {
    const shop = await openShop(hub)
    const late = await sell(hub, shop, at('2026-11-10 23:59:58'), 4500)
    expect(late.businessDate).toBe('2026-11-10')
    const early = await sell(hub, shop, at('2026-11-11 00:00:05'), 1200)
    expect(early.businessDate).toBe('2026-11-11')
    await importLines(hub, shop, '2026-11-10', [])
    const day1 = await run(shop, '2026-11-10')
    // Timing is not an exception (yet): the day is balanced and says so.
    expect(day1.status).toBe('balanced')
    expect(day1.counts).toMatchObject({ timing: 1, matched: 0, open_exceptions: 0 })
    expect(await itemOf(hub, shop, late.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'timing', state: 'open', business_date: '2026-11-10', carried_days: 0, difference: -4500 })
    expect(await events(shop, 'settlement.exception')).toEqual([])

    await importLines(hub, shop, '2026-11-11', [paid(late.tenders[0]!, at('2026-11-11 00:00:03')), paid(early.tenders[0]!, at('2026-11-11 00:00:06'))])
    const day2 = await run(shop, '2026-11-11')
    expect(day2.status).toBe('balanced')
    expect(day2.counts).toMatchObject({ matched: 2, timing: 0 })
    // The carried payment is paired on the day the channel booked it, and the wait is on record.
    expect(await itemOf(hub, shop, late.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched', business_date: '2026-11-11', carried_days: 1 })
    expect(await itemOf(hub, shop, early.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched', business_date: '2026-11-11', carried_days: 0 })
    expect(await items(hub, shop)).toHaveLength(2)
  })

  it('a payment the channel never books is timing for the carry-over days, then missing in the channel with an event', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-10 12:00:00'), 3300)
    const ref = sale.tenders[0]!.paymentNo
    await empty(shop, '2026-11-10')
    await empty(shop, '2026-11-11')
    await empty(shop, '2026-11-12')
    await empty(shop, '2026-11-13')
    expect((await run(shop, '2026-11-10')).counts.timing).toBe(1)
    expect((await run(shop, '2026-11-11')).counts.timing).toBe(1)
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'timing', carried_days: 1, business_date: '2026-11-10' })
    const third = await run(shop, '2026-11-12')
    expect(third).toMatchObject({ status: 'balanced' })
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'timing', carried_days: 2 })
    expect(await events(shop, 'settlement.exception')).toEqual([])
    const fourth = await run(shop, '2026-11-13')
    expect(fourth.status).toBe('exceptions')
    expect(fourth.counts).toMatchObject({ missing_in_channel: 1, open_exceptions: 1 })
    const item = await itemOf(hub, shop, ref)
    expect(item).toMatchObject({ outcome: 'missing_in_channel', state: 'open', carried_days: 3, business_date: '2026-11-10', pos_amount: 3300, channel_amount: null, difference: -3300 })
    const ev = await events(shop, 'settlement.exception')
    expect(ev).toHaveLength(1)
    expect(ev[0]).toMatchObject({ entity_id: fourth.runId, data: { connectionId: shop.connectionId, businessDate: '2026-11-13', openExceptions: 1 } })
    // A shorter carry-over makes it missing sooner.
    const other = await openShop(hub)
    await sell(hub, other, at('2026-11-10 12:00:00'), 100)
    await empty(other, '2026-11-10')
    expect((await run(other, '2026-11-10', { carryDays: 0 })).counts.missing_in_channel).toBe(1)
  })

  it('a later day reconciled before the bills of the days between keeps the payment timing until those bills are in', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-10 12:00:00'), 3300)
    const ref = sale.tenders[0]!.paymentNo
    await empty(shop, '2026-11-10')
    await empty(shop, '2026-11-13')
    expect((await run(shop, '2026-11-10')).counts.timing).toBe(1)
    // Three days on by the calendar, but only one of the channel's bills since has been seen: not missing yet.
    const early = await run(shop, '2026-11-13')
    expect(early).toMatchObject({ status: 'balanced' })
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'timing', carried_days: 1 })
    expect(await events(shop, 'settlement.exception')).toEqual([])
    await empty(shop, '2026-11-11')
    await empty(shop, '2026-11-12')
    expect((await run(shop, '2026-11-11')).counts.timing).toBe(1)
    expect((await run(shop, '2026-11-12')).counts.timing).toBe(1)
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'timing', carried_days: 2 })
    // The 13th run again, with every bill in: missing now, on the payment's own day.
    const again = await run(shop, '2026-11-13')
    expect(again.counts).toMatchObject({ missing_in_channel: 1, open_exceptions: 1 })
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'missing_in_channel', carried_days: 3, business_date: '2026-11-10' })
    // The chips follow what is open of each day: the 10th has the exception; the 13th, with nothing of its own, has none.
    const summary = await dailySummary(hub.database.db, shop.m.merchantId, { from: '2026-11-10', to: '2026-11-13', connectionId: shop.connectionId, today: '2026-11-14' })
    const chips = Object.fromEntries(summary.map((r) => [r.businessDate, [r.runStatus, r.openExceptions]]))
    expect(chips).toEqual({ '2026-11-10': ['exceptions', 1], '2026-11-11': ['balanced', 0], '2026-11-12': ['balanced', 0], '2026-11-13': ['balanced', 0] })
  })

  it('a payment of a Friday, with no bill on the weekend, is missing once three bills after it are in, however many days that takes', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-13 12:00:00'), 777) // a Friday
    const ref = sale.tenders[0]!.paymentNo
    for (const day of ['2026-11-13', '2026-11-16', '2026-11-17']) {
      await empty(shop, day)
      await run(shop, day)
    }
    // Monday and Tuesday's bills: two, though four days have passed.
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'timing', carried_days: 2 })
    await empty(shop, '2026-11-18')
    const wednesday = await run(shop, '2026-11-18')
    expect(wednesday.counts).toMatchObject({ missing_in_channel: 1, open_exceptions: 1 })
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'missing_in_channel', carried_days: 3, business_date: '2026-11-13' })
  })

  it('a day with no transactions counts as a bill of the channel, also for a channel whose runs read its own formats only', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-10 12:00:00'), 444)
    const ref = sale.tenders[0]!.paymentNo
    // WeChat's runs pair only its trade bills; "No Bill Exist" is recorded as an empty statement.
    for (const day of ['2026-11-10', '2026-11-11', '2026-11-12', '2026-11-13']) {
      await empty(shop, day)
      await run(shop, day, { formats: ['wechat_trade'] })
    }
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'missing_in_channel', carried_days: 3 })
  })

  it('bills of a catch-up that come in out of order still make a payment none of them holds missing', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-10 12:00:00'), 555)
    const ref = sale.tenders[0]!.paymentNo
    for (const day of ['2026-11-10', '2026-11-13', '2026-11-11', '2026-11-12', '2026-11-14']) {
      await empty(shop, day)
      await run(shop, day)
    }
    expect(await itemOf(hub, shop, ref)).toMatchObject({ outcome: 'missing_in_channel', state: 'open' })
  })

  it('tells each kind of exception apart, with both amounts and the difference', async () => {
    const shop = await openShop(hub)
    const d = '2026-11-12'
    const t = at('2026-11-12 10:00:00')
    const ok = await sell(hub, shop, t, 1000)
    const short = await sell(hub, shop, t, 2000)
    const usd = await sell(hub, shop, t, 3000)
    const revoked = await sell(hub, shop, t, 4000)
    // A channel's status in its own letter case or script: reversed (冲正) is revoked too.
    const reversed = await sell(hub, shop, t, 500)
    const lines = [
      paid(ok.tenders[0]!, t),
      paid(short.tenders[0]!, t, { amount: 1990 }),
      paid(usd.tenders[0]!, t, { currency: 'USD' }),
      paid(revoked.tenders[0]!, t, { status: 'REVOKED' }),
      paid(reversed.tenders[0]!, t, { status: 'Reversed' }),
      line({ ourRef: 'TB261112100000ABCDEFGH', amount: 777, occurredAt: t }),
      line({ ourRef: 'SHOPIFY-#1001', amount: 888, occurredAt: t }),
    ]
    await importLines(hub, shop, d, lines)
    const r = await run(shop, d)
    expect(r.status).toBe('exceptions')
    expect(r.counts).toMatchObject({ matched: 1, amount_diff: 1, currency_diff: 1, status_diff: 2, missing_in_pos: 1, unknown_merchant_ref: 1, open_exceptions: 6 })
    expect(await itemOf(hub, shop, short.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'amount_diff', pos_amount: 2000, channel_amount: 1990, difference: -10 })
    expect(await itemOf(hub, shop, usd.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'currency_diff', pos_amount: 3000, channel_amount: 3000 })
    expect(await itemOf(hub, shop, revoked.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'status_diff', state: 'open' })
    expect(await itemOf(hub, shop, reversed.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'status_diff', state: 'open' })
    expect(await itemOf(hub, shop, 'TB261112100000ABCDEFGH')).toMatchObject({ outcome: 'missing_in_pos', pos_id: null, pos_amount: null, channel_amount: 777, difference: 777 })
    expect(await itemOf(hub, shop, 'SHOPIFY-#1001')).toMatchObject({ outcome: 'unknown_merchant_ref', channel_amount: 888 })
    expect(r.totals).toMatchObject({ pos_payments: 10500, channel_payments: 1000 + 1990 + 3000 + 4000 + 500 + 777 + 888 })
  })

  it('flags a fee more than one fen off the contract, rounded the channel’s way', async () => {
    const shop = await openShop(hub)
    const d = '2026-11-12'
    const t = at('2026-11-12 11:00:00')
    const a = await sell(hub, shop, t, 5800)
    const b = await sell(hub, shop, t, 5800)
    const c = await sell(hub, shop, t, 5800)
    const r1 = await refund(hub, shop, t, a, 2000)
    // 0.6 %: 5800 fen → 34.8 fen = 34800 thousandths; a refund of 2000 returns 12 fen.
    await importLines(hub, shop, d, [
      paid(a.tenders[0]!, t, { feeMilli: 34800 }),
      paid(b.tenders[0]!, t, { feeMilli: 35700 }),
      paid(c.tenders[0]!, t, { feeMilli: 36900 }),
      refunded(r1.tenders[0]!, t, { feeMilli: -12000 }),
    ])
    const rule = { expectedFeeMilli: (l: { kind: string; amount: number }) => (l.kind === 'refund' ? -l.amount * 6 : l.amount * 6), roundingMilli: 1 }
    const r = await run(shop, d, { feeRule: rule })
    expect(r.counts).toMatchObject({ matched: 3, fee_diff: 1 })
    expect(await itemOf(hub, shop, c.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'fee_diff', expected_fee_milli: 34800, channel_fee_milli: 36900, difference: 0 })
    expect(await itemOf(hub, shop, b.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched', expected_fee_milli: 34800, channel_fee_milli: 35700 })
    expect(await itemOf(hub, shop, r1.tenders[0]!.refundNo)).toMatchObject({ outcome: 'matched', expected_fee_milli: -12000 })
    // Rounded to whole fen (a channel that prints fees to 2 decimals), 0.6 % of 5800 is 35 fen.
    const whole = await run(shop, d, { feeRule: { ...rule, roundingMilli: 1000 } })
    expect(whole.reused).toBe(false)
    expect(await itemOf(hub, shop, a.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched', expected_fee_milli: 35000 })
    expect(await itemOf(hub, shop, c.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'fee_diff', expected_fee_milli: 35000 })
  })

  it('matches partial and multiple refunds each to its own channel line', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-14 09:00:00'), 3000)
    const r1 = await refund(hub, shop, at('2026-11-14 12:00:00'), sale, 1000)
    const r2 = await refund(hub, shop, at('2026-11-14 18:00:00'), sale, 500)
    const r3 = await refund(hub, shop, at('2026-11-15 10:00:00'), sale, 700)
    expect(r3.businessDate).toBe('2026-11-15')
    await importLines(hub, shop, '2026-11-14', [
      paid(sale.tenders[0]!, at('2026-11-14 09:00:01')),
      refunded(r1.tenders[0]!, at('2026-11-14 12:00:01'), { ourPaymentRef: sale.tenders[0]!.paymentNo }),
      refunded(r2.tenders[0]!, at('2026-11-14 18:00:01'), { ourPaymentRef: sale.tenders[0]!.paymentNo }),
    ])
    const day1 = await run(shop, '2026-11-14')
    expect(day1.counts).toMatchObject({ matched: 3, open_exceptions: 0 })
    expect(day1.totals).toMatchObject({ pos_payments: 3000, pos_refunds: 1500, channel_refunds: 1500, difference: 0 })
    // The third refund: the channel shows a different amount.
    await importLines(hub, shop, '2026-11-15', [refunded(r3.tenders[0]!, at('2026-11-15 10:00:01'), { amount: 600 })])
    const day2 = await run(shop, '2026-11-15')
    expect(day2.counts).toMatchObject({ amount_diff: 1 })
    expect(await itemOf(hub, shop, r3.tenders[0]!.refundNo)).toMatchObject({ outcome: 'amount_diff', pos_kind: 'refund_tender', pos_amount: 700, channel_amount: 600, difference: -100 })
    expect(await itemOf(hub, shop, r1.tenders[0]!.refundNo)).toMatchObject({ outcome: 'matched', pos_kind: 'refund_tender' })
  })

  it('matches each tender of a split payment, and only the channel’s tender kinds', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-14 09:00:00')
    const sale = await sell(hub, shop, t, [{ amount: 1500 }, { amount: 500 }, { kind: 'alipay', amount: 300 }, { kind: 'cash', amount: 200 }])
    const [w1, w2] = sale.tenders.filter((x) => x.kind === 'wechat')
    await importLines(hub, shop, '2026-11-14', [paid(w1!, t), paid(w2!, t)])
    const r = await run(shop, '2026-11-14')
    expect(r.counts).toMatchObject({ matched: 2, open_exceptions: 0, timing: 0 })
    expect((await items(hub, shop)).map((i) => i.pos_amount).sort()).toEqual([1500, 500].sort())
  })

  it('one tender satisfies one channel line: a line twice is a duplicate, today or days later', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-16 09:00:00')
    const sale = await sell(hub, shop, t, 900)
    const tender = sale.tenders[0]!
    await importLines(hub, shop, '2026-11-16', [paid(tender, t), paid(tender, t, { channelTxnId: 'X-SECOND' })])
    const r = await run(shop, '2026-11-16')
    expect(r.counts).toMatchObject({ matched: 1, duplicate: 1 })
    const dup = (await items(hub, shop)).find((i) => i.outcome === 'duplicate')!
    expect(dup).toMatchObject({ pos_kind: 'sale_tender', pos_id: tender.id, channel_amount: 900, state: 'open' })
    // The channel books it again the next day: still a duplicate, and the first match stands.
    await importLines(hub, shop, '2026-11-17', [paid(tender, at('2026-11-17 01:00:00'), { channelTxnId: 'X-THIRD' })])
    const r2 = await run(shop, '2026-11-17')
    expect(r2.counts).toMatchObject({ duplicate: 1, matched: 0 })
    expect(await itemOf(hub, shop, tender.paymentNo)).toMatchObject({ outcome: 'matched', business_date: '2026-11-16' })
  })

  it('a line twice is a duplicate also where the import listed no repeated numbers: an older statement, or the day in two files', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-16 09:00:00')
    const [s1, s2] = [await sell(hub, shop, t, 900), await sell(hub, shop, t, 700)]
    const [w1, w2] = [s1.tenders[0]!, s2.tenders[0]!]
    // Imported before statements listed their repeated numbers.
    const old = await importLines(hub, shop, '2026-11-16', [paid(w1, t), paid(w2, t), paid(w1, t, { channelTxnId: 'X-SECOND' })])
    await hub.database.db.execute(sql`update settlement_statements set repeated_refs = null where id = ${old.statementId}`)
    const r = await run(shop, '2026-11-16')
    expect(r.counts).toMatchObject({ matched: 2, duplicate: 1 })
    expect((await items(hub, shop)).find((i) => i.outcome === 'duplicate')).toMatchObject({ pos_id: w1.id, state: 'open' })

    // The next day's payment in the trade bill and again in a second file of another layout: each file alone has no repeat.
    const t2 = at('2026-11-17 09:00:00')
    const s3 = await sell(hub, shop, t2, 1300)
    const w3 = s3.tenders[0]!
    await importLines(hub, shop, '2026-11-17', [paid(w3, t2)])
    await importStatement(hub.database.db, {
      merchantId: shop.m.merchantId,
      connectionId: shop.connectionId,
      format: 'alipay_trade',
      businessDate: '2026-11-17',
      source: 'uploaded',
      content: contentInMemory(Buffer.from('second file')),
      contentType: 'text/csv',
      parsed: statementOf([paid(w3, t2, { channelTxnId: 'X-OTHER-FILE' })]),
      timeZone: TZ,
    })
    const r2 = await run(shop, '2026-11-17')
    expect(r2.counts).toMatchObject({ matched: 1, duplicate: 1 })
  })

  it('two till records of one channel payment: one pairs by the channel id, the other is a duplicate', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-16 14:00:00')
    const a = await sell(hub, shop, t, [{ amount: 650, channelTxnId: '4200000099' }])
    const b = await sell(hub, shop, at('2026-11-16 14:01:00'), [{ amount: 650, channelTxnId: '4200000099' }])
    // The terminal charged under its own number, so only the channel id links the line.
    await importLines(hub, shop, '2026-11-16', [line({ ourRef: null, channelTxnId: '4200000099', amount: 650, occurredAt: t })])
    const r = await run(shop, '2026-11-16')
    expect(r.counts).toMatchObject({ matched: 1, duplicate: 1 })
    expect(await itemOf(hub, shop, a.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched' })
    const dup = (await items(hub, shop)).find((i) => i.outcome === 'duplicate')!
    expect(dup).toMatchObject({ pos_id: b.tenders[0]!.id, line_id: null, state: 'open' })
    // A corrected file runs the day again: the same duplicate item continues, no second one for the same till record.
    const c = await sell(hub, shop, at('2026-11-16 14:05:00'), 800)
    await importLines(hub, shop, '2026-11-16', [line({ ourRef: null, channelTxnId: '4200000099', amount: 650, occurredAt: t }), paid(c.tenders[0]!, at('2026-11-16 14:05:01'))])
    const again = await run(shop, '2026-11-16')
    expect(again).toMatchObject({ reused: false, counts: { matched: 2, duplicate: 1 } })
    expect((await items(hub, shop)).filter((i) => i.outcome === 'duplicate').map((i) => i.id)).toEqual([dup.id])
  })

  it('two till records of one channel payment, the line carrying the first one’s number: the second is a duplicate', async () => {
    const shop = await openShop(hub)
    const a = await sell(hub, shop, at('2026-11-16 15:00:00'), [{ amount: 720, channelTxnId: '4200000100' }])
    const b = await sell(hub, shop, at('2026-11-16 15:00:40'), [{ amount: 720, channelTxnId: '4200000100' }])
    await importLines(hub, shop, '2026-11-16', [paid(a.tenders[0]!, at('2026-11-16 15:00:01'), { channelTxnId: '4200000100' })])
    const r = await run(shop, '2026-11-16')
    expect(r.counts).toMatchObject({ matched: 1, duplicate: 1, timing: 0 })
    expect(await itemOf(hub, shop, a.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched', state: 'auto' })
    expect((await items(hub, shop)).find((i) => i.outcome === 'duplicate')).toMatchObject({ pos_id: b.tenders[0]!.id, line_id: null, state: 'open' })
  })

  it('a line of an earlier day not yet reconciled competes with today’s line of the same number: the earlier one pairs', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-17 00:00:30'), 1500)
    const tender = sale.tenders[0]!
    // The channel booked it before midnight; that day's bill has not been reconciled. Today's bill has it again.
    await importLines(hub, shop, '2026-11-16', [paid(tender, at('2026-11-16 23:59:58'))])
    await importLines(hub, shop, '2026-11-17', [paid(tender, at('2026-11-17 00:00:31'), { channelTxnId: 'X-AGAIN' })])
    const lineOf = async (date: string) =>
      Number((await hub.database.db.execute<{ id: number }>(sql`select id from settlement_lines where merchant_id = ${shop.m.merchantId} and business_date = ${date}::date`)).rows[0]!.id)
    const earlier = await lineOf('2026-11-16')
    const today = await lineOf('2026-11-17')
    const r = await run(shop, '2026-11-17')
    expect(r.counts).toMatchObject({ matched: 1, duplicate: 1 })
    expect(r.totals).toMatchObject({ pos_count: 1, pos_payments: 1500, channel_count: 1, channel_payments: 1500 })
    expect(await itemOf(hub, shop, tender.paymentNo)).toMatchObject({ outcome: 'matched', line_id: earlier, business_date: '2026-11-17' })
    expect((await items(hub, shop)).find((i) => i.outcome === 'duplicate')).toMatchObject({ line_id: today, pos_id: tender.id, state: 'open' })
  })

  it('a connection of one store matches only that store’s payments; another store’s line is not its money', async () => {
    const shop = await openShop(hub, { storeCode: 'SH01' })
    const store2 = await seedStore(hub, shop.m.merchantId, { code: 'SH02' })
    const item2 = await seedProduct(hub, store2, { price: 1, stock: 100_000 })
    const other: Shop = { ...shop, store: store2, sku: item2.sku }
    const mine = await sell(hub, shop, at('2026-11-18 10:00:00'), 880)
    const theirs = await sell(hub, other, at('2026-11-18 10:05:00'), 990)
    await importLines(hub, shop, '2026-11-18', [paid(mine.tenders[0]!, at('2026-11-18 10:00:01')), paid(theirs.tenders[0]!, at('2026-11-18 10:05:01'))])
    const r = await run(shop, '2026-11-18', { storeIds: [shop.store.storeId] })
    expect(r.counts).toMatchObject({ matched: 1, missing_in_pos: 1 })
    expect(r.totals).toMatchObject({ pos_count: 1, pos_payments: 880, channel_count: 2, channel_payments: 1870 })
    expect(await itemOf(hub, shop, mine.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched', store_id: shop.store.storeId })
    expect((await items(hub, shop)).find((i) => i.outcome === 'missing_in_pos')).toMatchObject({ pos_id: null, channel_amount: 990, state: 'open' })
  })

  it('voids: revoked in the channel is settled; a void the channel never saw is a status difference', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-18 10:00:00')
    const revokedSale = await sell(hub, shop, t, 1100)
    const lostVoid = await sell(hub, shop, t, 2200)
    const refundedVoid = await sell(hub, shop, t, 3300)
    hub.setNow(at('2026-11-18 10:05:00'))
    for (const s of [revokedSale, lostVoid, refundedVoid]) expect((await shop.api.post(`/api/v1/sales/${s.id}/void`, { reason: 'wrong item' })).status).toBe(200)
    hub.setNow(undefined)
    const voidRefund = async (saleId: string) =>
      (await hub.database.db.execute<{ refund_no: string; amount: number }>(sql`select rt.refund_no, rt.amount from refund_tenders rt join refunds r on r.id = rt.refund_id where r.sale_id = ${saleId}`)).rows[0]!
    const rv = await voidRefund(refundedVoid.id)
    await importLines(hub, shop, '2026-11-18', [
      paid(revokedSale.tenders[0]!, t, { status: 'REVOKED' }),
      paid(lostVoid.tenders[0]!, t),
      paid(refundedVoid.tenders[0]!, t),
      refunded({ refundNo: rv.refund_no, amount: rv.amount }, at('2026-11-18 10:05:01')),
    ])
    const r = await run(shop, '2026-11-18')
    expect(await itemOf(hub, shop, revokedSale.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched' })
    expect(await itemOf(hub, shop, (await voidRefund(revokedSale.id)).refund_no)).toMatchObject({ outcome: 'matched', line_id: null, state: 'auto' })
    expect(await itemOf(hub, shop, lostVoid.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'status_diff', state: 'open', pos_amount: 2200, channel_amount: 2200 })
    expect(await itemOf(hub, shop, (await voidRefund(lostVoid.id)).refund_no)).toMatchObject({ outcome: 'timing' })
    expect(await itemOf(hub, shop, refundedVoid.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched' })
    expect(await itemOf(hub, shop, rv.refund_no)).toMatchObject({ outcome: 'matched' })
    expect(r.counts).toMatchObject({ status_diff: 1, timing: 1, matched: 4 })
    // The revoked payment is paid and given back on the channel's side, as the sale and its void are at the till: the
    // day is off by the lost void only, in the run and in the summary alike.
    expect(r.totals).toMatchObject({ pos_net: 0, channel_payments: 6600, channel_refunds: 4400, difference: 2200 })
    const summary = await shop.api.get(`/api/v1/reconciliation/summary?from=2026-11-18&to=2026-11-18&connectionId=${shop.connectionId}`)
    expect(summary.body.items.map((i: any) => [i.posAmount, i.channelAmount, i.difference])).toEqual([[0, 2200, 2200]])
  })

  it('a card void settled by the acquirer’s cancellation record (a refund line, REVOKED) is matched; a failed refund is not', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-21 11:00:00')
    const voided = await sell(hub, shop, t, 4100)
    const returned = await sell(hub, shop, t, 2600)
    hub.setNow(at('2026-11-21 11:02:00'))
    expect((await shop.api.post(`/api/v1/sales/${voided.id}/void`, { reason: 'wrong card' })).status).toBe(200)
    const back = await refund(hub, shop, at('2026-11-21 11:30:00'), returned, 1)
    hub.setNow(undefined)
    const [cancel] = (
      await hub.database.db.execute<{ refund_no: string; amount: number }>(sql`select rt.refund_no, rt.amount from refund_tenders rt join refunds r on r.id = rt.refund_id where r.sale_id = ${voided.id}`)
    ).rows
    await importLines(hub, shop, '2026-11-21', [
      paid(voided.tenders[0]!, t),
      refunded({ refundNo: cancel!.refund_no, amount: cancel!.amount }, at('2026-11-21 11:02:01'), { status: 'REVOKED' }),
      paid(returned.tenders[0]!, t),
      refunded(back.tenders[0]!, at('2026-11-21 11:30:01'), { status: 'FAILED' }),
    ])
    await run(shop, '2026-11-21')
    expect(await itemOf(hub, shop, cancel!.refund_no)).toMatchObject({ outcome: 'matched', state: 'auto' })
    expect(await itemOf(hub, shop, voided.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched' })
    expect(await itemOf(hub, shop, back.tenders[0]!.refundNo)).toMatchObject({ outcome: 'status_diff', state: 'open' })
  })

  it('card data only suggests a pair and leaves both sides open', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-19 15:30:00')
    const sale = await sell(hub, shop, t, [{ kind: 'card', amount: 8800, reference: { rrn: '123456789012', terminalId: 'T0000003', voucherNo: '000457' } }])
    await importLines(hub, shop, '2026-11-19', [line({ ourRef: null, channelTxnId: '260319000000000001', rrn: '123456789012', terminalRef: 'T0000003', voucherNo: '000457', amount: 8800, occurredAt: at('2026-11-19 15:30:12') })])
    const r = await run(shop, '2026-11-19', { tenderKinds: ['card'] })
    expect(r.counts).toMatchObject({ matched: 0, timing: 1, missing_in_pos: 1 })
    const all = await items(hub, shop)
    const posItem = all.find((i) => i.pos_id === sale.tenders[0]!.id)!
    const lineItem = all.find((i) => i.outcome === 'missing_in_pos')!
    const suggested = await hub.database.db.execute<{ item_id: string; details: any }>(sql`select item_id, details from recon_item_events where action = 'suggested' and item_id in (${posItem.id}, ${lineItem.id})`)
    expect(suggested.rows).toHaveLength(2)
    expect(suggested.rows.find((e) => e.item_id === posItem.id)!.details).toMatchObject({ counterpartItemId: lineItem.id, lineId: lineItem.line_id, by: 'rrn' })
    expect(suggested.rows.find((e) => e.item_id === lineItem.id)!.details).toMatchObject({ counterpartItemId: posItem.id, posId: sale.tenders[0]!.id })
    // Running again suggests nothing new.
    const again = await run(shop, '2026-11-19', { tenderKinds: ['card'] })
    expect(again.reused).toBe(true)
    expect((await hub.database.db.execute(sql`select 1 from recon_item_events where action = 'suggested' and item_id in (${posItem.id}, ${lineItem.id})`)).rows).toHaveLength(2)
  })

  it('running the same day twice changes nothing; a corrected file replaces the automatic results', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-20 10:00:00')
    const a = await sell(hub, shop, t, 1000)
    const b = await sell(hub, shop, t, 2000)
    await importLines(hub, shop, '2026-11-20', [paid(a.tenders[0]!, t), paid(b.tenders[0]!, t, { amount: 1900 })])
    const first = await run(shop, '2026-11-20')
    const itemsBefore = await items(hub, shop)
    const eventsBefore = (await hub.database.db.execute(sql`select count(*)::int as n from recon_item_events where merchant_id = ${shop.m.merchantId}`)).rows[0]!.n
    const second = await run(shop, '2026-11-20')
    expect(second).toMatchObject({ runId: first.runId, reused: true, changes: { created: 0, changed: 0, removed: 0 } })
    expect(await items(hub, shop)).toEqual(itemsBefore)
    expect((await hub.database.db.execute(sql`select count(*)::int as n from recon_item_events where merchant_id = ${shop.m.merchantId}`)).rows[0]!.n).toBe(eventsBefore)
    expect((await hub.database.db.execute(sql`select count(*)::int as n from recon_runs where connection_id = ${shop.connectionId}`)).rows[0]!.n).toBe(1)

    // The channel corrects its file: the amount difference is gone, the same item is reclassified.
    const corrected = await importLines(hub, shop, '2026-11-20', [paid(a.tenders[0]!, t), paid(b.tenders[0]!, t)])
    expect(corrected.status).toBe('imported')
    const third = await run(shop, '2026-11-20')
    expect(third).toMatchObject({ reused: false, status: 'balanced', changes: { created: 0, changed: 2, removed: 0 } })
    const after = await itemOf(hub, shop, b.tenders[0]!.paymentNo)
    expect(after).toMatchObject({ id: itemsBefore.find((i) => i.pos_ref === b.tenders[0]!.paymentNo)!.id, outcome: 'matched' })
    const history = await hub.database.db.execute<{ action: string; details: any }>(sql`select action, details from recon_item_events where item_id = ${after!.id} order by id`)
    expect(history.rows.map((h) => h.action)).toEqual(['created', 'reclassified'])
    expect(history.rows[1]!.details).toMatchObject({ before: { outcome: 'amount_diff' }, after: { outcome: 'matched' } })
  })

  it('checks a payout against the lines it carries', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-21 10:00:00')
    const a = await sell(hub, shop, t, 10000)
    const b = await sell(hub, shop, t, 5000)
    await importLines(hub, shop, '2026-11-21', [
      paid(a.tenders[0]!, t, { payoutRef: 'po_1', feeMilli: 290_000 }),
      paid(b.tenders[0]!, t, { payoutRef: 'po_2', feeMilli: 175_000 }),
      line({ kind: 'payout', ourRef: null, amount: 9710, payoutRef: 'po_1', occurredAt: t }),
      line({ kind: 'payout', ourRef: null, amount: 4800, payoutRef: 'po_2', occurredAt: t }),
    ])
    const r = await run(shop, '2026-11-21')
    const payouts = (await items(hub, shop)).filter((i) => i.pos_kind === 'payout')
    expect(payouts.find((p) => p.pos_ref === 'po_1')).toMatchObject({ outcome: 'matched', pos_amount: 9710, channel_amount: 9710, difference: 0 })
    expect(payouts.find((p) => p.pos_ref === 'po_2')).toMatchObject({ outcome: 'amount_diff', state: 'open', pos_amount: 4825, channel_amount: 4800, difference: -25 })
    expect(r.counts).toMatchObject({ matched: 3, amount_diff: 1 })
  })

  it('keeps merchants apart and refuses a day without a statement', async () => {
    const a = await openShop(hub)
    const b = await openShop(hub)
    const t = at('2026-11-22 10:00:00')
    const saleA = await sell(hub, a, t, 100)
    await sell(hub, b, t, 200)
    await importLines(hub, a, '2026-11-22', [paid(saleA.tenders[0]!, t)])
    const r = await run(a, '2026-11-22')
    expect(r.counts).toMatchObject({ matched: 1, timing: 0 })
    expect(await items(hub, b)).toEqual([])
    // B naming A's connection finds no statement of its own.
    await expect(reconcileDay(hub.database.db, { merchantId: b.m.merchantId, connectionId: a.connectionId, businessDate: '2026-11-22', tenderKinds: ['wechat'], timeZone: TZ })).rejects.toMatchObject({ code: 'no_statement' })
    await expect(run(b, '2026-11-22')).rejects.toMatchObject({ code: 'no_statement' })
  })
})
