import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { streamOnly } from '../helpers/content.ts'
import path from 'node:path'
import { http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { and, asc, eq } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { seedMerchant } from '../helpers/api.ts'
import { stripeSandbox } from '../../src/sandboxes/vendors/stripe.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { createConnection, loadConnection } from '../../src/connectors/framework/connections.ts'
import { connectorContext } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { stripe } from '../../src/connectors/payment/stripe/index.ts'
import { discardFetched, type StatementFile } from '../../src/connectors/framework/define.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { StatementFormatError } from '../../src/core/reconciliation/types.ts'
import { collectLines as collect, rejection } from '../helpers/connections.ts'
import { contentInMemory } from '../../src/core/reconciliation/file.ts'
import { fetchSettlement, importFile, reconcileConnectionDay } from '../../src/jobs/reconciliation.ts'
import { sql } from 'drizzle-orm'

const KEY = 'sk_test_51BalanceTxnKey00000000000'
/** 2026-03-14 in Shanghai is [2026-03-13T16:00Z, 2026-03-14T16:00Z). */
const DAY_START = Date.UTC(2026, 2, 13, 16) / 1000
const DAY_END = Date.UTC(2026, 2, 14, 16) / 1000

const refusal = (p: Promise<unknown>) => rejection(p, StatementFormatError, 'expected the file to be refused')

describe('Stripe settlement from balance transactions', () => {
  const { hub, files } = useTestHubWithDataDir('stripe')
  const sim = stripeSandbox({ secretKey: KEY })
  const server = setupServer(...sim.handlers)
  let merchantId: string
  beforeAll(async () => {
    server.listen({ onUnhandledFrame: 'error' })
    merchantId = (await seedMerchant(hub)).merchantId
  })
  // Every day fetched below has ended by then; the test on a day not yet over moves the clock itself.
  beforeEach(() => hub.setNow(new Date('2026-03-20T00:00:00Z')))
  afterEach(() => hub.setNow(undefined))
  afterAll(() => server.close())

  async function context() {
    const row = await createConnection(hub.database.db, connectorRegistry, hub.secrets, merchantId, { connectorId: 'stripe', name: `Stripe ${Math.random()}`, config: { secretKey: KEY } }, new Date())
    return { ctx: connectorContext(hub, await loadConnection(hub.database.db, connectorRegistry, hub.secrets, row.id, merchantId)), connectionId: row.id }
  }

  // The day: 230 card payments, two refunds (one giving a fee back), a payout, a Radar fee and a dispute, plus
  // movements just outside the Shanghai day on either side.
  const withOrderNo = sim.addCharge({ amount: 5800, fee: 198, created: DAY_START + 3600, metadata: { payment_no: 'SH01T03-20260314-000812', store: 'SH01' } })
  const withOutTradeNo = sim.addCharge({ amount: 4500, fee: 161, created: DAY_START + 7200, metadata: { out_trade_no: 'SH01T01-20260314-001377' } })
  const bare = sim.addCharge({ amount: 1999, fee: 88, created: DAY_START + 7300 })
  for (let i = 0; i < 227; i++) sim.addCharge({ amount: 1000 + i, fee: 59, created: DAY_START + 10_000 + i * 300, metadata: { payment_no: `BULK-${i}` } })
  const refund = sim.addRefund({ charge: withOrderNo.charge, amount: 2000, created: DAY_START + 50_000, metadata: { refund_no: 'RF-SH01T03-000812-1' } })
  const refundWithFeeBack = sim.addRefund({ charge: bare.charge, amount: 1999, fee: -88, created: DAY_START + 50_100 })
  const payout = sim.addPayout({ amount: 250_000, created: DAY_START + 60_000 })
  const radar = sim.addStripeFee({ amount: 500, created: DAY_START + 70_000 })
  const dispute = sim.addAdjustment({ amount: -1500, created: DAY_START + 80_000, reportingCategory: 'dispute' })
  sim.addCharge({ amount: 777, fee: 30, created: DAY_START - 1 })
  sim.addCharge({ amount: 888, fee: 30, created: DAY_END })
  const lastSecond = sim.addCharge({ amount: 999, fee: 30, created: DAY_END - 1, currency: 'jpy', metadata: { payment_no: 'LAST' } })

  it('fetches every page of the Shanghai day, waiting out a 429 with Retry-After, into one JSON-lines file', async () => {
    const { ctx, connectionId } = await context()
    const before = sim.state.requests.length
    sim.state.rateLimitNext = 1
    sim.state.retryAfterSeconds = 1
    const started = Date.now()
    const fetched = await stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-03-14' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    expect(fetched.status).toBe('ready')
    const file = (fetched as { files: StatementFile[] }).files[0]!
    expect(file).toMatchObject({ format: 'stripe_balance', name: 'stripe-balance-transactions-2026-03-14.jsonl', contentType: 'application/x-ndjson' })

    const calls = sim.state.requests.slice(before)
    // The refused call, then three pages of 100, 100 and 36, each after the last id of the page before; then what the
    // day's payout paid out (nothing here but itself).
    expect(calls).toHaveLength(5)
    expect([...calls[4]!.query.keys()].sort()).toEqual(['expand[]', 'limit', 'payout'])
    expect(calls[4]!.query.get('payout')).toBe(payout.payoutId)
    for (const c of calls.slice(0, 4)) {
      expect(c).toMatchObject({ path: '/v1/balance_transactions', authorization: `Bearer ${KEY}` })
      expect(c.query.get('created[gte]')).toBe(String(DAY_START))
      expect(c.query.get('created[lt]')).toBe(String(DAY_END))
      expect(c.query.get('limit')).toBe('100')
      expect(c.query.getAll('expand[]')).toEqual(['data.source'])
    }
    const text = file.content.bytes().toString('utf8')
    const objects = text.trimEnd().split('\n').map((l) => JSON.parse(l))
    expect(objects).toHaveLength(236)
    expect(new Set(objects.map((o) => o.id)).size).toBe(236)
    expect(calls[1]!.query.get('starting_after')).toBeNull()
    expect(calls[2]!.query.get('starting_after')).toBe(objects[99].id)
    expect(calls[3]!.query.get('starting_after')).toBe(objects[199].id)
    // The expanded source keeps ids and our metadata, not the customer's details.
    expect(text).not.toContain('customer@example.com')
    expect(text).not.toContain(KEY)

    const log = await hub.database.db.select().from(connectorCalls).where(and(eq(connectorCalls.connectionId, connectionId))).orderBy(asc(connectorCalls.id))
    expect(log.map((r) => [r.operation, r.statusCode, r.outcome])).toEqual([
      ['fetchStatement', 429, 'rate_limited'],
      ['fetchStatement', 200, 'ok'],
      ['fetchStatement', 200, 'ok'],
      ['fetchStatement', 200, 'ok'],
      ['fetchStatement', 200, 'ok'],
    ])

    const parsed = stripe.capabilities.parseStatement!({ format: file.format, content: file.content }, ctx.config)
    const lines = await collect(parsed)
    expect(parsed.controlTotals()).toBeNull()
    expect(lines).toHaveLength(236)
    // Lines are numbered by their place in the file: the balance transaction's id is the object's on that line.
    const byTxn = new Map(lines.map((l) => [objects[l.lineNo - 1].id as string, l]))
    const kinds = lines.reduce<Record<string, number>>((n, l) => ({ ...n, [l.kind]: (n[l.kind] ?? 0) + 1 }), {})
    expect(kinds).toEqual({ payment: 231, refund: 2, payout: 1, fee: 1, adjustment: 1 })

    expect(byTxn.get(withOrderNo.txn.id)).toMatchObject({
      kind: 'payment',
      ourRef: 'SH01T03-20260314-000812',
      channelTxnId: withOrderNo.charge.payment_intent,
      currency: 'USD',
      amount: 5800,
      feeMilli: 198_000,
      status: 'SUCCESS',
      occurredAt: new Date((DAY_START + 3600) * 1000),
    })
    expect(byTxn.get(withOutTradeNo.txn.id)).toMatchObject({ ourRef: 'SH01T01-20260314-001377', amount: 4500, feeMilli: 161_000 })
    // Without our metadata the PaymentIntent is the reference the till kept.
    expect(byTxn.get(bare.txn.id)).toMatchObject({ ourRef: bare.charge.payment_intent, amount: 1999 })
    expect(byTxn.get(lastSecond.txn.id)).toMatchObject({ ourRef: 'LAST', currency: 'JPY', amount: 999 })

    expect(byTxn.get(refund.txn.id)).toMatchObject({
      kind: 'refund',
      ourRef: 'RF-SH01T03-000812-1',
      ourPaymentRef: withOrderNo.charge.payment_intent,
      channelTxnId: withOrderNo.charge.payment_intent,
      channelRefundId: refund.refundId,
      amount: 2000,
      feeMilli: 0,
      status: 'REFUND',
    })
    expect(byTxn.get(refundWithFeeBack.txn.id)).toMatchObject({ kind: 'refund', ourRef: null, amount: 1999, feeMilli: -88_000 })
    expect(byTxn.get(payout.txn.id)).toMatchObject({ kind: 'payout', payoutRef: payout.payoutId, amount: 250_000, feeMilli: 0, status: 'PAID' })
    expect(byTxn.get(radar.id)).toMatchObject({ kind: 'fee', amount: 500, ourRef: null })
    expect(byTxn.get(dispute.id)).toMatchObject({ kind: 'adjustment', amount: -1500 })

    // Minor units end to end: the day's net is the sum of Stripe's own net figures.
    const stripeNet = objects.reduce((s, o) => s + o.net, 0)
    const ours = lines.reduce((s, l) => {
      const sign = l.kind === 'payment' || l.kind === 'adjustment' ? 1 : -1
      return s + sign * l.amount - l.feeMilli / 1000
    }, 0)
    expect(ours).toBe(stripeNet)
  await discardFetched(fetched)
  })

  it('writes the pages to a file under the hub\'s downloads as they arrive, gone once discarded; a refused page leaves none', async () => {
    const { ctx } = await context()
    const fetched = await stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-03-14' })
    const file = (fetched as { files: StatementFile[] }).files[0]!
    expect(files('downloads')).toEqual([path.basename(file.content.path!)])
    const lines = await collect(stripe.capabilities.parseStatement!({ format: file.format, content: streamOnly(file.content) }, ctx.config))
    expect(lines).toHaveLength(236)
    await discardFetched(fetched)
    expect(files('downloads')).toEqual([])

    // Stripe refuses the second page (a cursor it no longer knows): its error, and nothing on disk.
    server.use(
      http.get('https://api.stripe.com/v1/balance_transactions', ({ request }) =>
        new URL(request.url).searchParams.has('starting_after')
          ? HttpResponse.json({ error: { type: 'invalid_request_error', message: "No such balance transaction: 'txn_gone'", code: 'resource_missing' } }, { status: 400 })
          : undefined,
      ),
    )
    try {
      const e = await rejection(stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-03-14' }), ConnectorError)
      expect(e).toMatchObject({ kind: 'permanent', status: 400 })
      expect(files('downloads')).toEqual([])
    } finally {
      server.resetHandlers()
    }
    // A day without movements leaves no empty file behind either.
    expect((await stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-03-10' })).status).toBe('empty')
    expect(files('downloads')).toEqual([])
  })

  it('checks each payout against the net of the transactions Stripe says it paid out, imported on the days they happened', async () => {
    const { ctx, connectionId } = await context()
    hub.setNow(new Date('2026-04-10T00:00:00Z'))
    // Shanghai days 2026-04-01 and 04-02: payments and a refund on the first, paid out on the second with a payment
    // of the second day itself; a second payout Stripe says is larger than what it paid out.
    const day1 = Date.UTC(2026, 2, 31, 16) / 1000
    const day2 = day1 + 86_400
    const c1 = sim.addCharge({ amount: 10_000, fee: 320, created: day1 + 3600, metadata: { payment_no: 'PO-T-1' } })
    const c2 = sim.addCharge({ amount: 5_000, fee: 175, created: day1 + 7200 })
    const r1 = sim.addRefund({ charge: c2.charge, amount: 2_000, created: day1 + 9000 })
    const c3 = sim.addCharge({ amount: 3_000, fee: 117, created: day2 + 600 })
    const fee = sim.addStripeFee({ amount: 200, created: day1 + 10_000 })
    const paid = sim.addPayout({ created: day2 + 3600, paidOut: [c1.txn, c2.txn, r1.txn, c3.txn, fee] })
    const net = c1.txn.net + c2.txn.net + r1.txn.net + c3.txn.net + fee.net
    const c4 = sim.addCharge({ amount: 7_000, fee: 233, created: day1 + 20_000 })
    const short = sim.addPayout({ amount: c4.txn.net + 100, created: day2 + 7200, paidOut: [c4.txn] })

    for (const date of ['2026-04-01', '2026-04-02']) {
      const fetched = await stripe.capabilities.fetchStatement!(ctx, { businessDate: date })
      try {
        const file = (fetched as { files: StatementFile[] }).files[0]!
        const r = await importFile(hub, { merchantId, connectionId, businessDate: date, format: file.format, content: file.content, source: 'fetched' })
        // The payouts' members are not lines of the second day: it has its own payment and the two payouts.
        expect(r).toMatchObject({ status: 'imported', lineCount: date === '2026-04-01' ? 5 : 3 })
      } finally {
        await discardFetched(fetched)
      }
    }
    // The lines of both days that the first payout paid out carry it; the other payout's line its own.
    const stamped = await hub.database.db.execute<{ payout_ref: string | null; n: number }>(sql`
      select payout_ref, count(*)::int as n from settlement_lines where connection_id = ${connectionId} and kind <> 'payout' group by 1 order by 1`)
    expect(stamped.rows).toEqual([
      { payout_ref: paid.payoutId, n: 5 },
      { payout_ref: short.payoutId, n: 1 },
    ])

    await reconcileConnectionDay(hub, { merchantId, connectionId, businessDate: '2026-04-02' })
    const payouts = await hub.database.db.execute<{ pos_ref: string; outcome: string; pos_amount: number; channel_amount: number; difference: number }>(sql`
      select pos_ref, outcome, pos_amount::int, channel_amount::int, difference::int from recon_items
       where connection_id = ${connectionId} and pos_kind = 'payout' order by channel_amount`)
    expect(payouts.rows).toEqual(
      [
        { pos_ref: short.payoutId, outcome: 'amount_diff', pos_amount: c4.txn.net, channel_amount: c4.txn.net + 100, difference: 100 },
        { pos_ref: paid.payoutId, outcome: 'matched', pos_amount: net, channel_amount: net, difference: 0 },
      ].sort((a, b) => a.channel_amount - b.channel_amount),
    )

    // The first day fetched again after its payout's day (Stripe has since booked a late fee on it): the new file
    // supersedes the old, and its lines of the paid-out transactions keep their payouts; the late fee has none.
    sim.addStripeFee({ amount: 50, created: day1 + 30_000 })
    const again = await stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-04-01' })
    try {
      const file = (again as { files: StatementFile[] }).files[0]!
      const r = await importFile(hub, { merchantId, connectionId, businessDate: '2026-04-01', format: file.format, content: file.content, source: 'fetched' })
      expect(r).toMatchObject({ status: 'imported', lineCount: 6, superseded: [expect.any(String)] })
    } finally {
      await discardFetched(again)
    }
    const current = await hub.database.db.execute<{ payout_ref: string | null; n: number }>(sql`
      select l.payout_ref, count(*)::int as n from settlement_lines l join settlement_statements st on st.id = l.statement_id and st.status = 'imported'
       where l.connection_id = ${connectionId} and l.kind <> 'payout' group by 1 order by 1`)
    expect(current.rows).toEqual([
      { payout_ref: paid.payoutId, n: 5 },
      { payout_ref: short.payoutId, n: 1 },
      { payout_ref: null, n: 1 },
    ])
    await reconcileConnectionDay(hub, { merchantId, connectionId, businessDate: '2026-04-02' })
    const rerun = await hub.database.db.execute<{ outcome: string }>(sql`
      select outcome from recon_items where connection_id = ${connectionId} and pos_kind = 'payout' and pos_ref = ${paid.payoutId}`)
    expect(rerun.rows).toEqual([{ outcome: 'matched' }])
  })

  it('a file made current again after a payout stamped the file in its place takes the payouts over', async () => {
    const { ctx, connectionId } = await context()
    hub.setNow(new Date('2026-05-10T00:00:00Z'))
    const day1 = Date.UTC(2026, 4, 1, 16) / 1000
    const c1 = sim.addCharge({ amount: 8_000, fee: 262, created: day1 + 3600 })
    const fetchDay = async (date: string) => stripe.capabilities.fetchStatement!(ctx, { businessDate: date }) as Promise<{ status: 'ready'; files: StatementFile[] }>
    const load = (date: string, file: StatementFile) => importFile(hub, { merchantId, connectionId, businessDate: date, format: file.format, content: file.content, source: 'fetched' })
    // The first file of 2026-05-02, then a second one (a late fee) in its place, before the payout's day comes in.
    const first = await fetchDay('2026-05-02')
    try {
      expect(await load('2026-05-02', first.files[0]!)).toMatchObject({ status: 'imported' })
      sim.addStripeFee({ amount: 40, created: day1 + 7200 })
      const second = await fetchDay('2026-05-02')
      try {
        expect(await load('2026-05-02', second.files[0]!)).toMatchObject({ status: 'imported', superseded: [expect.any(String)] })
      } finally {
        await discardFetched(second)
      }
      const paid = sim.addPayout({ created: day1 + 86_400 + 3600, paidOut: [c1.txn] })
      const payoutDay = await fetchDay('2026-05-03')
      try {
        expect(await load('2026-05-03', payoutDay.files[0]!)).toMatchObject({ status: 'imported' })
      } finally {
        await discardFetched(payoutDay)
      }
      // The first file again: the same bytes make it current again, and its payment carries the payout.
      expect(await load('2026-05-02', first.files[0]!)).toMatchObject({ status: 'duplicate', reactivated: true })
      const current = await hub.database.db.execute<{ channel_txn_id: string; payout_ref: string | null }>(sql`
        select l.channel_txn_id, l.payout_ref from settlement_lines l join settlement_statements st on st.id = l.statement_id and st.status = 'imported'
         where l.connection_id = ${connectionId} and st.business_date = '2026-05-02' and l.kind = 'payment'`)
      expect(current.rows).toEqual([{ channel_txn_id: expect.any(String), payout_ref: paid.payoutId }])
    } finally {
      await discardFetched(first)
    }
  })

  it('cuts the day in the time zone it is given', async () => {
    const { ctx } = await context()
    const before = sim.state.requests.length
    const fetched = await stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-03-13', timeZone: 'America/New_York' })
    const call = sim.state.requests[before]!
    expect(call.query.get('created[gte]')).toBe(String(Date.UTC(2026, 2, 13, 4) / 1000))
    expect(call.query.get('created[lt]')).toBe(String(Date.UTC(2026, 2, 14, 4) / 1000))
    expect(fetched.status).toBe('ready')
    const file = (fetched as { files: StatementFile[] }).files[0]!
    const lines = await collect(stripe.capabilities.parseStatement!({ format: file.format, content: file.content }, ctx.config))
    expect(lines.every((l) => l.occurredAt.getTime() >= Date.UTC(2026, 2, 13, 4) && l.occurredAt.getTime() < Date.UTC(2026, 2, 14, 4))).toBe(true)
    expect(lines.length).toBeGreaterThan(0)
  await discardFetched(fetched)
  })

  it('fetches a merchant\'s day in the merchant\'s time zone when the scheduled job fetches it', async () => {
    const ny = await seedMerchant(hub, { timeZone: 'America/New_York' })
    const row = await createConnection(hub.database.db, connectorRegistry, hub.secrets, ny.merchantId, { connectorId: 'stripe', name: 'Stripe NY', config: { secretKey: KEY } }, new Date())
    const before = sim.state.requests.length
    const r = await fetchSettlement(hub, { merchantId: ny.merchantId, connectionId: row.id, businessDate: '2026-03-13' }, { job: { attempts: 1, maxAttempts: 8 } as never, signal: undefined as never })
    expect(r.status).toBe('imported')
    const call = sim.state.requests[before]!
    expect(call.query.get('created[gte]')).toBe(String(Date.UTC(2026, 2, 13, 4) / 1000))
    expect(call.query.get('created[lt]')).toBe(String(Date.UTC(2026, 2, 14, 4) / 1000))
  })

  it('says a day that has not ended is not ready, and a day without movements is empty', async () => {
    const { ctx } = await context()
    hub.setNow(new Date('2026-03-14T15:59:59Z'))
    const before = sim.state.requests.length
    expect(await stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-03-14' })).toMatchObject({ status: 'not_ready' })
    expect(sim.state.requests.length).toBe(before)
    hub.setNow(new Date('2026-03-14T16:00:00Z'))
    const ready = await stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-03-14' })
    expect(ready.status).toBe('ready')
    await discardFetched(ready)
    expect(await stripe.capabilities.fetchStatement!(ctx, { businessDate: '2026-03-10' })).toMatchObject({ status: 'empty', message: expect.stringMatching(/2026-03-10/) })
  })

  it('reads our numbers from the metadata keys the connection names, and from the defaults without them', async () => {
    const pay = JSON.stringify({ ...withOrderNo.txn, source: { id: 'ch_K', object: 'charge', payment_intent: 'pi_K', metadata: { payment_no: 'DEFAULT-KEY', order_ref: 'SH01-K-1' } } })
    const back = JSON.stringify({ ...refund.txn, source: { id: 're_K', object: 'refund', payment_intent: 'pi_K', charge: 'ch_K', metadata: { pos_refund: 'RF-K-1' } } })
    const read = (config: Record<string, unknown>) => collect(stripe.capabilities.parseStatement!({ format: 'stripe_balance', content: contentInMemory(Buffer.from(`${pay}\n${back}\n`)) }, config as never))
    const own = await read(stripe.config.parse({ secretKey: KEY, paymentRefKeys: ['order_ref', 'payment_no'], refundRefKeys: ['pos_refund'] }))
    expect(own.map((l) => [l.kind, l.ourRef, l.ourPaymentRef ?? null])).toEqual([
      ['payment', 'SH01-K-1', null],
      // The refund's own metadata has no payment key: its PaymentIntent names the payment, as before.
      ['refund', 'RF-K-1', 'pi_K'],
    ])
    // The defaults, and a connection saved before it could name keys (none stored): payment_no, and no refund number.
    for (const config of [stripe.config.parse({ secretKey: KEY }), { secretKey: KEY }]) {
      expect((await read(config)).map((l) => l.ourRef)).toEqual(['DEFAULT-KEY', null])
    }
  })

  it('refuses a stored file with a malformed line, naming the line', async () => {
    const good = JSON.stringify({ ...withOrderNo.txn, source: withOrderNo.charge.id })
    const parse = (text: string) => collect(stripe.capabilities.parseStatement!({ format: 'stripe_balance', content: contentInMemory(Buffer.from(text)) }, stripe.config.parse({ secretKey: KEY })))
    expect(await parse(`${good}\n`)).toHaveLength(1)
    let e = await refusal(parse(`${good}\n${JSON.stringify({ ...withOrderNo.txn, amount: 58.0001 })}\n`))
    expect(e.message).toMatch(/line 2: .*"amount" 58.0001 is not an integer/)
    e = await refusal(parse(`${good}\n\n${JSON.stringify({ ...withOrderNo.txn, net: 5000 })}`))
    expect(e.message).toMatch(/line 3: .*net 5000 is not amount 5800 minus fee 198/)
    e = await refusal(parse(`${good}\n{"id":"txn_1",`))
    expect(e.message).toBe('line 2: not a JSON object')
    e = await refusal(parse(`${good}\n${JSON.stringify({ ...withOrderNo.txn, source: withOrderNo.charge.id, payout_member_of: 'ch_1' })}\n`))
    expect(e.message).toMatch(/line 2: "payout_member_of" "ch_1" is not a payout id/)
    expect(() => stripe.capabilities.parseStatement!({ format: 'wechat_trade', content: contentInMemory(Buffer.from(good)) }, stripe.config.parse({ secretKey: KEY }))).toThrow(StatementFormatError)
  })
})
