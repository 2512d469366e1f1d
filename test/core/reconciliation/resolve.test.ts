import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { reconcileDay } from '../../../src/core/reconciliation/match.ts'
import { recordEmptyStatement } from '../../../src/core/reconciliation/import.ts'
import { reopenItem, resolveItem, type ResolveAction } from '../../../src/core/reconciliation/resolve.ts'
import type { Actor } from '../../../src/core/staff/actor.ts'
import { dayPostings } from '../../../src/core/vouchers/build.ts'
import { buildVoucher } from '../../../src/core/vouchers/service.ts'
import { lineSources } from '../../../src/core/vouchers/drilldown.ts'
import { at, importLines, itemOf, items, line, openShop, paid, sell, TZ, type Shop } from './helpers.ts'

describe('resolving exceptions', () => {
  const hub = useTestHub()

  const run = (shop: Shop, date: string) =>
    reconcileDay(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: date, tenderKinds: ['wechat'], timeZone: TZ })
  const actorOf = (shop: Shop): Actor => ({ type: 'user', id: shop.m.adminId, name: 'Fin', merchantId: shop.m.merchantId, role: 'admin' })
  const resolve = (shop: Shop, id: string, action: ResolveAction) => hub.database.db.transaction((tx) => resolveItem(tx, actorOf(shop), id, action))
  const reopen = (shop: Shop, id: string) => hub.database.db.transaction((tx) => reopenItem(tx, actorOf(shop), id, { note: 'looked again' }))
  const history = async (id: string) =>
    (await hub.database.db.execute<{ action: string; actor_id: string | null; details: any }>(sql`select action, actor_id, details from recon_item_events where item_id = ${id} order by id`)).rows
  const hubEvents = async (shop: Shop, type: string) =>
    (await hub.database.db.execute<{ entity_id: string; data: any }>(sql`select entity_id, data from events where merchant_id = ${shop.m.merchantId} and type = ${type} order by id`)).rows
  const audit = async (shop: Shop) =>
    (await hub.database.db.execute<{ action: string; entity_id: string; details: any }>(sql`select action, entity_id, details from audit_log where merchant_id = ${shop.m.merchantId} and entity_type = 'recon_item' order by id`)).rows

  /** A day with a payment the channel printed under a number we do not know, and one line that is ours. */
  async function mismatchedDay() {
    const shop = await openShop(hub)
    const t = at('2026-11-10 10:00:00')
    const sale = await sell(hub, shop, t, 1200)
    const other = await sell(hub, shop, t, 3400)
    await importLines(hub, shop, '2026-11-10', [line({ ourRef: 'TERMINAL-OWN-1', channelTxnId: 'CH-1', amount: 1200, occurredAt: t }), paid(other.tenders[0]!, t, { amount: 3300 })])
    await run(shop, '2026-11-10')
    const posItem = (await itemOf(hub, shop, sale.tenders[0]!.paymentNo))!
    const lineItem = (await itemOf(hub, shop, 'TERMINAL-OWN-1'))!
    const diffItem = (await itemOf(hub, shop, other.tenders[0]!.paymentNo))!
    expect(posItem.outcome).toBe('timing')
    expect(lineItem.outcome).toBe('unknown_merchant_ref')
    expect(diffItem.outcome).toBe('amount_diff')
    return { shop, sale, other, posItem, lineItem, diffItem }
  }

  it('matches two one-sided items by hand, on the record, and a re-run keeps the pair and what it holds', async () => {
    const { shop, posItem, lineItem } = await mismatchedDay()
    const paired = await resolve(shop, lineItem.id, { action: 'match', counterpartId: posItem.id, note: 'terminal used its own number' })
    expect(paired).toMatchObject({ id: lineItem.id, state: 'resolved', resolution: 'merged', lineId: null })
    const pos = (await items(hub, shop)).find((i) => i.id === posItem.id)!
    expect(pos).toMatchObject({ outcome: 'matched', state: 'resolved', manual: true, resolution: 'matched_by_hand', line_id: lineItem.line_id, channel_amount: 1200, difference: 0 })
    const h = await history(posItem.id)
    expect(h.map((e) => e.action)).toEqual(['created', 'resolved'])
    expect(h[1]).toMatchObject({ actor_id: shop.m.adminId, details: { counterpartItemId: lineItem.id, before: { outcome: 'timing', state: 'open' }, after: { outcome: 'matched', state: 'resolved' } } })
    expect((await audit(shop)).map((a) => a.action)).toEqual(['recon_item.resolved'])

    // A re-run keeps the hand match as it was. It is a run of its own, since the match took two items out of the
    // day's open ones; the run after it changes nothing and is reused.
    const before = await items(hub, shop)
    const again = await run(shop, '2026-11-10')
    expect(again.reused).toBe(false)
    expect(await items(hub, shop)).toEqual(before)
    expect((await run(shop, '2026-11-10')).reused).toBe(true)
  })

  it('a hand match carries the line’s channel fee over once: the day’s voucher books it once', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-10 10:00:00')
    const sale = await sell(hub, shop, t, 10000)
    await importLines(hub, shop, '2026-11-10', [line({ ourRef: 'TERMINAL-OWN-9', channelTxnId: 'CH-9', amount: 10000, feeMilli: 60_000, occurredAt: t })])
    await run(shop, '2026-11-10')
    const posItem = (await itemOf(hub, shop, sale.tenders[0]!.paymentNo))!
    const lineItem = (await itemOf(hub, shop, 'TERMINAL-OWN-9'))!
    await resolve(shop, lineItem.id, { action: 'match', counterpartId: posItem.id, note: 'terminal used its own number' })
    const fees = (await hub.database.db.transaction((tx) => dayPostings(tx, { merchantId: shop.m.merchantId, storeId: null, businessDate: '2026-11-10', noStoreTo: null }))).postings.filter((p) => p.kind === 'channel_fee')
    expect(fees.map((p) => [p.key, p.amount])).toEqual([
      ['fee', 60],
      ['tender:card', -60],
    ])
  })

  it('a re-run on a corrected file keeps the resolutions it does not touch, and reopens one whose line it changed', async () => {
    const { shop, other, diffItem, posItem } = await mismatchedDay()
    await resolve(shop, diffItem.id, { action: 'write_off', accountCode: '6603.02', note: 'rounding at the terminal' })
    await resolve(shop, posItem.id, { action: 'ignore', reason: 'test transaction' })
    const t = at('2026-11-10 10:00:00')
    // The corrected file drops the unknown line and has the right amount for the written-off payment.
    await importLines(hub, shop, '2026-11-10', [paid(other.tenders[0]!, t)])
    const r = await run(shop, '2026-11-10')
    expect(r.reused).toBe(false)
    const after = await items(hub, shop)
    // The write-off was about a 33.00 line that no longer stands: reopened, the payment now matches the 34.00 line.
    expect(after.find((i) => i.id === diffItem.id)).toMatchObject({ outcome: 'matched', state: 'auto', manual: false, resolution: null, channel_amount: 3400 })
    const events = await history(diffItem.id)
    expect(events.find((e) => e.action === 'resolved')!.details).toMatchObject({ resolution: 'write_off', accountCode: '6603.02' })
    expect(events.find((e) => e.action === 'reopened')!.details).toMatchObject({ note: 'the line it was resolved on was replaced by a corrected file' })
    // The ignored payment had no line: its resolution stays.
    expect(after.find((i) => i.id === posItem.id)).toMatchObject({ outcome: 'timing', state: 'resolved', resolution: 'ignored' })
    // The unknown line's automatic item went with its line.
    expect(after.filter((i) => i.outcome === 'unknown_merchant_ref')).toEqual([])
  })

  it('a hand match on a line without our reference moves to the same line of a corrected file, found by the channel’s id', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-10 10:00:00')
    const sale = await sell(hub, shop, t, 1200)
    const other = await sell(hub, shop, t, 3400)
    const bare = line({ ourRef: null, channelTxnId: '4200000000000000000000009001', amount: 1200, occurredAt: t })
    await importLines(hub, shop, '2026-11-10', [bare, paid(other.tenders[0]!, t, { amount: 3300 })])
    await run(shop, '2026-11-10')
    const lineItem = (await items(hub, shop)).find((i) => i.pos_ref === null && i.outcome === 'missing_in_pos')!
    const posItem = (await itemOf(hub, shop, sale.tenders[0]!.paymentNo))!
    await resolve(shop, posItem.id, { action: 'match', counterpartId: lineItem.id, note: 'the terminal printed no order number' })
    const oldLine = (await items(hub, shop)).find((i) => i.id === posItem.id)!.line_id

    // The corrected file: the same bare line (a new row of a new file) and the right amount for the other sale.
    await importLines(hub, shop, '2026-11-10', [{ ...bare }, paid(other.tenders[0]!, t)])
    const r = await run(shop, '2026-11-10')
    expect(r.counts).toMatchObject({ missing_in_pos: 0, amount_diff: 0, matched: 1 })
    const moved = (await items(hub, shop)).find((i) => i.id === posItem.id)!
    expect(moved).toMatchObject({ outcome: 'matched', state: 'resolved', manual: true, resolution: 'matched_by_hand', channel_amount: 1200 })
    expect(moved.line_id).not.toBe(oldLine)
    const [replaced] = (await history(posItem.id)).filter((e) => e.action === 'line_replaced')
    expect(replaced!.details).toMatchObject({ before: { lineId: oldLine }, after: { lineId: moved.line_id } })
    // The new line is the hand match's alone: no automatic item of its own.
    expect((await items(hub, shop)).filter((i) => i.line_id === moved.line_id)).toHaveLength(1)
  })

  it('accepting the channel books the correcting record for the day\'s voucher and announces it; reopening reverses it', async () => {
    const { shop, diffItem } = await mismatchedDay()
    // Accepted on the 12th (Shanghai), reopened on the 13th: each is booked on its own day.
    await hub.database.db.transaction((tx) => resolveItem(tx, actorOf(shop), diffItem.id, { action: 'accept_channel', note: 'the till keyed the wrong amount' }, at('2026-11-12 09:00:00')))
    const adjusted = await hubEvents(shop, 'settlement.adjusted')
    expect(adjusted).toHaveLength(1)
    expect(adjusted[0]).toMatchObject({ entity_id: diffItem.id, data: { posAmount: 3400, channelAmount: 3300, adjustment: -100, reversal: false } })
    const reopened = await hub.database.db.transaction((tx) => reopenItem(tx, actorOf(shop), diffItem.id, { note: 'looked again' }, at('2026-11-13 00:30:00')))
    expect(reopened).toMatchObject({ state: 'open', manual: false, resolution: null })
    expect((await hubEvents(shop, 'settlement.adjusted'))[1]).toMatchObject({ data: { adjustment: 100, reversal: true } })
    const booked = await hub.database.db.execute<{ item_id: string; business_date: string; amount: number; reversal: boolean; created_by: string }>(sql`
      select item_id, business_date::text, amount::int, reversal, created_by from settlement_adjustments where merchant_id = ${shop.m.merchantId} order by created_at, id`)
    expect(booked.rows).toEqual([
      { item_id: diffItem.id, business_date: '2026-11-12', amount: -100, reversal: false, created_by: shop.m.adminId },
      { item_id: diffItem.id, business_date: '2026-11-13', amount: 100, reversal: true, created_by: shop.m.adminId },
    ])
    // The day's voucher moves the channel's account by the difference, against settlement differences, balanced.
    const postings = async (day: string) =>
      (await hub.database.db.transaction((tx) => dayPostings(tx, { merchantId: shop.m.merchantId, storeId: null, businessDate: day, noStoreTo: null }))).postings.filter((p) => p.kind === 'settlement_adjustment')
    const day12 = await postings('2026-11-12')
    expect(day12.map((p) => [p.key, p.amount])).toEqual([
      ['tender:wechat', -100],
      ['settlement:adjustment', 100],
    ])
    expect((await postings('2026-11-13')).map((p) => [p.key, p.amount])).toEqual([
      ['tender:wechat', 100],
      ['settlement:adjustment', -100],
    ])
    // Built, the voucher's lines of it lead back to the correcting record and its item.
    const built = await hub.database.db.transaction((tx) => buildVoucher(tx, { merchantId: shop.m.merchantId, storeId: shop.store.storeId, businessDate: '2026-11-12' }, at('2026-11-14 08:00:00')))
    const lines = await hub.database.db.execute<{ line_no: number; kind: string }>(sql`select line_no, kind from voucher_lines where voucher_id = ${built.voucher!.id} and kind = 'settlement_adjustment' order by line_no`)
    expect(lines.rows).toHaveLength(2)
    const sources = await hub.database.db.transaction((tx) => lineSources(tx, shop.m.merchantId, built.voucher!.id, lines.rows[0]!.line_no))
    expect(sources.records).toEqual([expect.objectContaining({ type: 'settlement_adjustment', amount: -100, detail: expect.objectContaining({ itemId: diffItem.id, outcome: 'amount_diff', reversal: false }) })])
    expect((await history(diffItem.id)).map((e) => e.action)).toEqual(['created', 'resolved', 'reopened'])
    expect((await audit(shop)).map((a) => a.action)).toEqual(['recon_item.resolved', 'recon_item.reopened'])
  })

  it('reopening a hand match splits it, and the next run decides both sides again', async () => {
    const { shop, posItem, lineItem } = await mismatchedDay()
    await resolve(shop, posItem.id, { action: 'match', counterpartId: lineItem.id })
    await reopen(shop, posItem.id)
    const all = await items(hub, shop)
    expect(all.find((i) => i.id === posItem.id)).toMatchObject({ outcome: 'timing', state: 'open', manual: false, line_id: null, channel_amount: null })
    expect(all.find((i) => i.id === lineItem.id)).toMatchObject({ outcome: 'unknown_merchant_ref', state: 'open', manual: false, line_id: lineItem.line_id })
    const r = await run(shop, '2026-11-10')
    expect(r.counts).toMatchObject({ timing: 1, unknown_merchant_ref: 1 })
  })

  it('expecting the next day lets the next run pair a tender that was already missing', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-10 10:00:00'), 500)
    for (const d of ['2026-11-10', '2026-11-11', '2026-11-12', '2026-11-13']) {
      await recordEmptyStatement(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: d, message: 'none' })
      await run(shop, d)
    }
    const missing = (await itemOf(hub, shop, sale.tenders[0]!.paymentNo))!
    expect(missing.outcome).toBe('missing_in_channel')
    const expected = await resolve(shop, missing.id, { action: 'expect_next_day', note: 'the bank says it settles tomorrow' })
    expect(expected).toMatchObject({ state: 'open', manual: false, resolution: 'expect_next_day' })
    await importLines(hub, shop, '2026-11-20', [paid(sale.tenders[0]!, at('2026-11-20 09:00:00'))])
    await run(shop, '2026-11-20')
    expect(await itemOf(hub, shop, sale.tenders[0]!.paymentNo)).toMatchObject({ id: missing.id, outcome: 'matched', business_date: '2026-11-20', resolution: null })
  })

  it('expecting the next day keeps a missing tender in the pool until a line with only the channel’s id comes', async () => {
    const shop = await openShop(hub)
    const sale = await sell(hub, shop, at('2026-11-10 10:00:00'), [{ amount: 700, channelTxnId: '4200000000000000000000007001' }])
    for (const d of ['2026-11-10', '2026-11-11', '2026-11-12', '2026-11-13']) {
      await recordEmptyStatement(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: d, message: 'none' })
      await run(shop, d)
    }
    const missing = (await itemOf(hub, shop, sale.tenders[0]!.paymentNo))!
    expect(missing.outcome).toBe('missing_in_channel')
    await resolve(shop, missing.id, { action: 'expect_next_day' })
    // A week later the channel settles it under its own id, without our payment number.
    await importLines(hub, shop, '2026-11-20', [line({ ourRef: null, channelTxnId: '4200000000000000000000007001', amount: 700, occurredAt: at('2026-11-20 09:00:00') })])
    const r = await run(shop, '2026-11-20')
    expect(r.counts).toMatchObject({ matched: 1, missing_in_pos: 0 })
    expect(await itemOf(hub, shop, sale.tenders[0]!.paymentNo)).toMatchObject({ id: missing.id, outcome: 'matched', business_date: '2026-11-20' })
  })

  it('expecting the next day keeps a line the till did not know in the pool until its sale is recorded', async () => {
    const shop = await openShop(hub)
    await importLines(hub, shop, '2026-11-10', [line({ ourRef: null, channelTxnId: '4200000000000000000000008001', amount: 800, occurredAt: at('2026-11-10 10:00:00') })])
    await run(shop, '2026-11-10')
    const lineItem = (await items(hub, shop)).find((i) => i.outcome === 'missing_in_pos')!
    await resolve(shop, lineItem.id, { action: 'expect_next_day', note: 'the store will key in the sale' })
    // Ten days on (well past the carry window), the sale is recorded with the channel's id.
    const sale = await sell(hub, shop, at('2026-11-20 10:00:00'), [{ amount: 800, channelTxnId: '4200000000000000000000008001' }])
    await recordEmptyStatement(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: '2026-11-20', message: 'none' })
    const r = await run(shop, '2026-11-20')
    expect(r.counts).toMatchObject({ matched: 1, missing_in_pos: 0, timing: 0 })
    expect(await itemOf(hub, shop, sale.tenders[0]!.paymentNo)).toMatchObject({ outcome: 'matched', line_id: lineItem.line_id, business_date: '2026-11-20' })
  })

  it('a line a person resolved stays theirs when the sale it was for turns up later and the day runs again', async () => {
    const shop = await openShop(hub)
    const t = at('2026-11-10 10:00:00')
    await importLines(hub, shop, '2026-11-10', [line({ ourRef: 'TERM-000123', amount: 500, occurredAt: t })])
    await run(shop, '2026-11-10')
    const lineItem = (await items(hub, shop)).find((i) => i.outcome === 'unknown_merchant_ref')!
    await resolve(shop, lineItem.id, { action: 'ignore', reason: 'a test payment at the terminal' })
    // The till's offline sale, with the number its terminal sent the channel, reaches the hub afterwards.
    const sale = await sell(hub, shop, t, [{ amount: 500, paymentNo: 'TERM-000123' }])
    const r = await run(shop, '2026-11-10')
    expect(r.counts).toMatchObject({ matched: 0, timing: 1 })
    const after = await items(hub, shop)
    expect(after.find((i) => i.id === lineItem.id)).toMatchObject({ state: 'resolved', manual: true, resolution: 'ignored', line_id: lineItem.line_id })
    expect(after.find((i) => i.pos_id === sale.tenders[0]!.id)).toMatchObject({ outcome: 'timing', state: 'open', line_id: null })
  })

  it('refuses what makes no sense, and another merchant’s items do not exist', async () => {
    const { shop, posItem, lineItem, diffItem } = await mismatchedDay()
    const matched = await sell(hub, shop, at('2026-11-11 10:00:00'), 100)
    await importLines(hub, shop, '2026-11-11', [paid(matched.tenders[0]!, at('2026-11-11 10:00:00'))])
    await run(shop, '2026-11-11')
    const auto = (await itemOf(hub, shop, matched.tenders[0]!.paymentNo))!
    await expect(resolve(shop, auto.id, { action: 'ignore', reason: 'x' })).rejects.toMatchObject({ code: 'item_not_open' })
    await expect(resolve(shop, posItem.id, { action: 'ignore', reason: '  ' })).rejects.toMatchObject({ code: 'reason_required' })
    await expect(resolve(shop, posItem.id, { action: 'write_off', accountCode: 'no spaces' })).rejects.toMatchObject({ code: 'invalid_account_code' })
    await expect(resolve(shop, posItem.id, { action: 'match', counterpartId: diffItem.id })).rejects.toMatchObject({ code: 'invalid_counterpart' })
    await expect(resolve(shop, diffItem.id, { action: 'expect_next_day' })).rejects.toMatchObject({ code: 'not_one_sided' })
    await expect(reopen(shop, lineItem.id)).rejects.toMatchObject({ code: 'item_not_resolved' })
    const stranger = await openShop(hub)
    await expect(resolve(stranger, posItem.id, { action: 'accept_pos' })).rejects.toMatchObject({ code: 'recon_item_not_found' })
    await expect(resolve(shop, posItem.id, { action: 'match', counterpartId: (await openShop(hub)).connectionId })).rejects.toMatchObject({ code: 'recon_item_not_found' })
    expect((await items(hub, shop)).filter((i) => i.state === 'resolved')).toEqual([])
  })
})
