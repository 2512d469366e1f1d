import { describe, expect, it } from 'vitest'
import { stripe } from '../../src/connectors/payment/stripe/index.ts'
import { StatementFormatError } from '../../src/core/reconciliation/types.ts'
import { contentInMemory } from '../../src/core/reconciliation/file.ts'
import { importFile } from '../../src/jobs/reconciliation.ts'
import { collectLines as collect, rejection } from '../helpers/connections.ts'
import { streamedFromDisk } from '../helpers/content.ts'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { at, openShop, refund, sell } from '../core/reconciliation/helpers.ts'

const KEY = 'sk_test_51ItemizedReportKey0000000'
const config = stripe.config.parse({ secretKey: KEY })

/** The reference's synthetic payout_reconciliation.itemized.5 report, as Stripe writes it. */
const EXAMPLE = [
  'automatic_payout_id,automatic_payout_effective_at,balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,charge_id,payment_intent_id,payment_metadata[pos_order_id],refund_metadata[pos_refund_id]',
  'po_1SxAbCdEfGh,2026-03-17 00:00:00,txn_3SxQ1aBcDeFg,2026-03-14 09:12:05,charge,usd,58.00,1.98,56.02,ch_3SxQ1aBcDeFg,pi_3SxQ1aBcDeFg,SH01T03-20260314-000812,',
  'po_1SxAbCdEfGh,2026-03-17 00:00:00,txn_3SxR9zYxWvUt,2026-03-14 15:40:22,refund,usd,-20.00,0.00,-20.00,ch_3SxQ1aBcDeFg,pi_3SxQ1aBcDeFg,SH01T03-20260314-000812,RF-SH01T03-000812-1',
  'po_1SxAbCdEfGh,2026-03-17 00:00:00,txn_1SxS7kLmNoPq,2026-03-15 02:00:00,fee,usd,-5.00,0.00,-5.00,,,,',
].join('\n')

const parsed = (text: string | Buffer, opts: { businessDate?: string; timeZone?: string } = {}) =>
  stripe.capabilities.parseStatement!({ format: 'stripe_itemized', content: contentInMemory(Buffer.isBuffer(text) ? text : Buffer.from(text)), ...opts }, config)
const parse = (text: string, opts: { businessDate?: string; timeZone?: string } = {}) => collect(parsed(text, opts))
const refusal = (p: Promise<unknown>) => rejection(p, StatementFormatError, 'expected the report to be refused')

describe('Stripe itemized report CSV', () => {
  it('reads the synthetic payout reconciliation report into lines in cents, with their fee, keys and payout', async () => {
    const p = parsed(EXAMPLE)
    const lines = await collect(p)
    expect(lines).toEqual([
      {
        lineNo: 2,
        kind: 'payment',
        // Its metadata key is not one of ours (payment_no, out_trade_no): the payment intent stands in, as over the API.
        ourRef: 'pi_3SxQ1aBcDeFg',
        channelTxnId: 'pi_3SxQ1aBcDeFg',
        currency: 'USD',
        amount: 5800,
        feeMilli: 198_000,
        status: 'SUCCESS',
        occurredAt: new Date('2026-03-14T09:12:05Z'),
        payoutRef: 'po_1SxAbCdEfGh',
      },
      {
        lineNo: 3,
        kind: 'refund',
        ourRef: null,
        ourPaymentRef: 'pi_3SxQ1aBcDeFg',
        channelTxnId: 'pi_3SxQ1aBcDeFg',
        channelRefundId: null,
        currency: 'USD',
        amount: 2000,
        feeMilli: 0,
        status: 'REFUND',
        occurredAt: new Date('2026-03-14T15:40:22Z'),
        payoutRef: 'po_1SxAbCdEfGh',
      },
      {
        lineNo: 4,
        kind: 'fee',
        ourRef: null,
        channelTxnId: 'txn_1SxS7kLmNoPq',
        currency: 'USD',
        amount: 500,
        feeMilli: 0,
        status: 'AVAILABLE',
        occurredAt: new Date('2026-03-15T02:00:00Z'),
        payoutRef: 'po_1SxAbCdEfGh',
      },
    ])
    expect(p.controlTotals()).toEqual({ count: 3, paymentCount: 1, refundCount: 1, paymentAmount: 5800, refundAmount: 2000, feeMilli: 198_000 })
    expect(p.payoutMembers!()).toEqual([])
  })

  it('takes our payment and refund numbers from the metadata keys the API path reads', async () => {
    const text = EXAMPLE.replace('payment_metadata[pos_order_id]', 'payment_metadata[payment_no]').replace('refund_metadata[pos_refund_id]', 'refund_metadata[refund_no]')
    const [pay, back] = await parse(text)
    expect(pay).toMatchObject({ ourRef: 'SH01T03-20260314-000812', channelTxnId: 'pi_3SxQ1aBcDeFg' })
    expect(back).toMatchObject({ ourRef: 'RF-SH01T03-000812-1', ourPaymentRef: 'SH01T03-20260314-000812', channelTxnId: 'pi_3SxQ1aBcDeFg' })
  })

  it('keeps the rows of the Shanghai business day as lines and a later row of a payout as that payout’s member', async () => {
    const p = parsed(EXAMPLE, { businessDate: '2026-03-14', timeZone: 'Asia/Shanghai' })
    const lines = await collect(p)
    // 09:12 and 15:40 UTC are 17:12 and 23:40 in Shanghai on the 14th; 02:00 UTC on the 15th is 10:00 there on the 15th.
    expect(lines.map((l) => l.kind)).toEqual(['payment', 'refund'])
    expect(p.payoutMembers!()).toEqual([{ payoutRef: 'po_1SxAbCdEfGh', kind: 'fee', channelTxnId: 'txn_1SxS7kLmNoPq', channelRefundId: null, amount: 500 }])
    expect(p.controlTotals()).toMatchObject({ count: 2, feeMilli: 198_000 })

    // A row of another day with no payout belongs to that day's statement: refused, with its line.
    const e = await refusal(parse(EXAMPLE.replace(/\npo_1SxAbCdEfGh(,2026-03-17 00:00:00,txn_1SxS7kLmNoPq)/, '\n$1'), { businessDate: '2026-03-14', timeZone: 'Asia/Shanghai' }))
    expect(e.message).toMatch(/^line 4: 2026-03-15T02:00:00.000Z is outside 2026-03-14 in Asia\/Shanghai/)
  })

  it('finds the columns by name in any order, ignoring the others, and reads created in the day’s zone without created_utc', async () => {
    const text = [
      'Reporting_Category,description,net,fee,gross,currency,customer_facing_amount,payment_metadata[out_trade_no],created,balance_transaction_id,source_id,payment_intent_id,card_brand',
      'charge,Payment,"1,234.50",39.80,"1,274.30",eur,1274.30,ORD-77,2026-03-14 10:00:00,txn_A1,ch_A1,pi_A1,visa',
    ].join('\n')
    const [l] = await parse(text, { businessDate: '2026-03-14', timeZone: 'Europe/Paris' })
    expect(l).toMatchObject({ kind: 'payment', ourRef: 'ORD-77', channelTxnId: 'pi_A1', currency: 'EUR', amount: 127_430, feeMilli: 3_980_000, occurredAt: new Date('2026-03-14T09:00:00Z') })
    expect(l!.payoutRef).toBeUndefined()
  })

  it('reads a yen report, which has no decimals, and refuses yen with decimals', async () => {
    const head = 'balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,payment_intent_id,payment_metadata[payment_no]'
    const [l] = await parse(`${head}\ntxn_J1,2026-03-14 01:00:00,charge,jpy,5800,209,5591,pi_J1,JP-1\n`)
    expect(l).toMatchObject({ kind: 'payment', currency: 'JPY', amount: 5800, feeMilli: 209_000, ourRef: 'JP-1' })
    const e = await refusal(parse(`${head}\ntxn_J1,2026-03-14 01:00:00,charge,jpy,5800,209,5591,pi_J1,JP-1\ntxn_J2,2026-03-14 01:00:00,charge,jpy,58.50,2,56.50,pi_J2,JP-2\n`))
    expect(e.message).toMatch(/^line 3: txn_J2: gross "58\.50" is not an amount in JPY with at most 0 decimals/)
    // Three decimals where the currency has three (Kuwaiti dinar).
    const [kwd] = await parse(`${head}\ntxn_K1,2026-03-14 01:00:00,charge,kwd,12.345,0.100,12.245,pi_K1,KW-1\n`)
    expect(kwd).toMatchObject({ currency: 'KWD', amount: 12_345, feeMilli: 100_000 })
  })

  it('refuses a malformed amount, a net that is not gross minus fee and a bad time, naming the line', async () => {
    const head = 'balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net'
    const good = 'txn_1,2026-03-14 01:00:00,charge,usd,10.00,0.59,9.41'
    let e = await refusal(parse(`${head}\n${good}\n${good}\ntxn_3,2026-03-14 01:00:00,charge,usd,12.3.4,0.59,9.41\n`))
    expect(e.message).toBe('line 4: txn_3: gross "12.3.4" is not an amount in USD with at most 2 decimals (the report\'s amounts are in major units)')
    e = await refusal(parse(`${head}\n${good}\ntxn_2,2026-03-14 01:00:00,charge,usd,10.00,0.599,9.401\n`))
    expect(e.message).toMatch(/^line 3: txn_2: fee "0\.599" is not an amount/)
    e = await refusal(parse(`${head}\ntxn_2,2026-03-14 01:00:00,charge,usd,10.00,0.59,9.42\n`))
    expect(e.message).toBe('line 2: txn_2: net 9.42 is not gross 10.00 minus fee 0.59')
    e = await refusal(parse(`${head}\ntxn_2,14/03/2026 01:00,charge,usd,10.00,0.59,9.41\n`))
    expect(e.message).toMatch(/^line 2: txn_2: created_utc "14\/03\/2026 01:00" is not a time/)
  })

  it('refuses a report cut off inside its last row: its missing cells would read as empty (the payment number lost)', async () => {
    const cut = EXAMPLE.slice(0, EXAMPLE.lastIndexOf(',,,,'))
    expect(cut.endsWith('-5.00,0.00,-5.00')).toBe(true)
    const e = await refusal(parse(cut))
    expect(e.message).toBe('line 4: the row has 9 values where the header has 13: the file is cut off or damaged')
  })

  it('refuses a file without the required columns, naming them', async () => {
    let e = await refusal(parse('balance_transaction_id,created_utc,reporting_category,currency,gross,net\ntxn_1,2026-03-14 01:00:00,charge,usd,10.00,9.41\n'))
    expect(e.message).toBe('line 1: this is not a Stripe itemized report: the header has no "fee" column')
    e = await refusal(parse('balance_transaction_id,reporting_category,currency,gross,fee\ntxn_1,charge,usd,10.00,0.59\n'))
    expect(e.message).toMatch(/no "created_utc \(or created\)" column/)
    e = await refusal(parse('id,type,amount\n'))
    expect(e.message).toMatch(/no "balance_transaction_id", "reporting_category", "currency", "gross", "fee", "created_utc \(or created\)" columns/)
    e = await refusal(parse(''))
    expect(e.message).toMatch(/empty/)
  })

  it('reads a report of thousands of rows as a stream, never whole', async () => {
    const onDisk = streamedFromDisk()
    const n = 6000
    const rows = ['automatic_payout_id,balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,charge_id,payment_intent_id,payment_metadata[payment_no]']
    for (let i = 0; i < n; i++) rows.push(`po_BULK,txn_B${i},2026-03-14 0${i % 10}:00:00,charge,usd,12.34,0.66,11.68,ch_B${i},pi_B${i},BULK-${i}`)
    const content = onDisk(Buffer.from(`${rows.join('\r\n')}\r\n`))
    const p = stripe.capabilities.parseStatement!({ format: 'stripe_itemized', content }, config)
    let count = 0
    let amount = 0
    for await (const l of p.lines) {
      count++
      amount += l.amount
      expect(l.ourRef).toBe(`BULK-${l.lineNo - 2}`)
    }
    expect(count).toBe(n)
    expect(amount).toBe(n * 1234)
    expect(p.controlTotals()).toEqual({ count: n, paymentCount: n, refundCount: 0, paymentAmount: n * 1234, refundAmount: 0, feeMilli: n * 66_000 })
  })
})

describe('Stripe itemized report through the API', () => {
  const { hub } = useTestHubWithDataDir('stripe-report')

  it('uploads the day’s report in place of the API fetch, reconciles it once and shows the planted difference', async () => {
    const shop = await openShop(hub)
    const conn = await shop.api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: KEY } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const connectionId = conn.body.id as string
    const finance = createApi(hub).as((await shop.m.staff('finance')).token)

    const s1 = await sell(hub, shop, at('2026-03-14 10:15:32'), [{ kind: 'card', amount: 5800 }])
    const s2 = await sell(hub, shop, at('2026-03-14 12:01:10'), [{ kind: 'card', amount: 4500 }])
    const s3 = await sell(hub, shop, at('2026-03-14 18:30:00'), [{ kind: 'card', amount: 1999 }])
    const back = await refund(hub, shop, at('2026-03-14 16:02:10'), s1, 2000)
    const [pay1, pay2, pay3] = [s1.tenders[0]!, s2.tenders[0]!, s3.tenders[0]!]
    const returned = back.tenders[0]!
    // Shanghai times as UTC wall clocks, the way created_utc prints them.
    const utc = (local: string) => at(local).toISOString().slice(0, 19).replace('T', ' ')

    // First the day fetched over the API (as the scheduled job would have stored it): the three payments and the refund.
    const txn = (id: string, created: string, amount: number, fee: number, type: string, source: Record<string, unknown>) =>
      JSON.stringify({ id, object: 'balance_transaction', amount, fee, net: amount - fee, currency: 'cny', type, reporting_category: type, created: at(created).getTime() / 1000, source })
    const jsonl = [
      txn('txn_P1', '2026-03-14 10:15:35', 5800, 198, 'charge', { id: 'ch_P1', object: 'charge', payment_intent: 'pi_P1', metadata: { payment_no: pay1.paymentNo } }),
      txn('txn_P2', '2026-03-14 12:01:12', 4500, 161, 'charge', { id: 'ch_P2', object: 'charge', payment_intent: 'pi_P2', metadata: { payment_no: pay2.paymentNo } }),
      txn('txn_P3', '2026-03-14 18:30:02', 1999, 88, 'charge', { id: 'ch_P3', object: 'charge', payment_intent: 'pi_P3', metadata: { payment_no: pay3.paymentNo } }),
      txn('txn_R1', '2026-03-14 16:02:12', -2000, 0, 'refund', { id: 're_R1', object: 'refund', payment_intent: 'pi_P1', charge: 'ch_P1', metadata: { refund_no: returned.refundNo } }),
    ].join('\n')
    const fetched = await importFile(hub, { merchantId: shop.m.merchantId, connectionId, businessDate: '2026-03-14', format: 'stripe_balance', content: contentInMemory(Buffer.from(`${jsonl}\n`)), source: 'fetched' })
    expect(fetched).toMatchObject({ status: 'imported', lineCount: 4 })

    // Then the itemized report of the same day: the same money, but the third payment 1.00 more than the till took
    // (the planted difference), a Radar fee, and a payment of the day before that the day's payout paid out.
    const report = [
      'balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,source_id,charge_id,payment_intent_id,automatic_payout_id,payment_metadata[payment_no],refund_metadata[refund_no],card_brand',
      `txn_P1,${utc('2026-03-14 10:15:35')},charge,cny,58.00,1.98,56.02,ch_P1,ch_P1,pi_P1,po_DAY,${pay1.paymentNo},,visa`,
      `txn_P2,${utc('2026-03-14 12:01:12')},charge,cny,45.00,1.61,43.39,ch_P2,ch_P2,pi_P2,po_DAY,${pay2.paymentNo},,mastercard`,
      `txn_P3,${utc('2026-03-14 18:30:02')},charge,cny,20.99,0.88,20.11,ch_P3,ch_P3,pi_P3,,${pay3.paymentNo},,visa`,
      `txn_R1,${utc('2026-03-14 16:02:12')},refund,cny,-20.00,0.00,-20.00,re_R1,ch_P1,pi_P1,po_DAY,${pay1.paymentNo},${returned.refundNo},`,
      `txn_F1,${utc('2026-03-14 20:00:00')},fee,cny,-5.00,0.00,-5.00,,,,,,,`,
      `txn_OLD,${utc('2026-03-13 09:00:00')},charge,cny,10.00,0.39,9.61,ch_OLD,ch_OLD,pi_OLD,po_DAY,OLD-1,,visa`,
    ].join('\n')
    const up = await finance.request('POST', `/api/v1/reconciliation/statements?connectionId=${connectionId}&date=2026-03-14&format=stripe_itemized&fileName=itemized.csv`, undefined, {
      raw: report,
      headers: { 'content-type': 'text/csv' },
    })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    // The day's row of the previous day is the payout's member, not a line; the API's file is no longer current.
    expect(up.body).toMatchObject({ result: 'imported', statement: { format: 'stripe_itemized', lineCount: 5, businessDate: '2026-03-14' }, superseded: [fetched.status === 'imported' && fetched.statementId] })

    const run = await finance.post('/api/v1/reconciliation/runs', { connectionId, date: '2026-03-14' })
    expect(run.status, JSON.stringify(run.body)).toBe(200)
    // Each payment and the refund once (the superseded API file adds nothing), the third payment with its difference.
    expect(run.body).toMatchObject({ status: 'exceptions', counts: { matched: 3, amount_diff: 1, duplicate: 0, missing_in_pos: 0, missing_in_channel: 0 } })
    const open = await finance.get(`/api/v1/reconciliation/exceptions?connectionId=${connectionId}`)
    expect(open.body.items, JSON.stringify(open.body)).toEqual([expect.objectContaining({ outcome: 'amount_diff', posRef: pay3.paymentNo, posAmount: 1999, channelAmount: 2099 })])

    // Uploading the API's file again makes it current in turn and the report superseded: never both.
    const again = await importFile(hub, { merchantId: shop.m.merchantId, connectionId, businessDate: '2026-03-14', format: 'stripe_balance', content: contentInMemory(Buffer.from(`${jsonl}\n`)), source: 'fetched' })
    expect(again).toMatchObject({ status: 'duplicate', reactivated: true })
    const current = await finance.get(`/api/v1/reconciliation/statements?connectionId=${connectionId}&status=imported`)
    expect(current.body.items.map((s: { format: string }) => s.format)).toEqual(['stripe_balance'])
  })

  it('matches by the metadata keys the connection names when its checkout writes its own, and refuses keys that cannot be', async () => {
    const shop = await openShop(hub)
    const bad = await shop.api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe bad', config: { secretKey: KEY, paymentRefKeys: ['payment_metadata[pos_order_id]'] } })
    expect([bad.status, bad.body.error.code]).toEqual([400, 'invalid_config'])
    expect(bad.body.error.message).toMatch(/config\.paymentRefKeys\.0: a metadata key has no square brackets/)
    const empty = await shop.api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe empty', config: { secretKey: KEY, refundRefKeys: [] } })
    expect([empty.status, empty.body.error.code]).toEqual([400, 'invalid_config'])
    const twice = await shop.api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe twice', config: { secretKey: KEY, refundRefKeys: ['a', 'a'] } })
    expect([twice.status, twice.body.error.code]).toEqual([400, 'invalid_config'])

    const conn = await shop.api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: KEY, paymentRefKeys: ['pos_order_id'], refundRefKeys: ['pos_refund_id'] } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    expect(conn.body.config).toMatchObject({ paymentRefKeys: ['pos_order_id'], refundRefKeys: ['pos_refund_id'] })
    const connectionId = conn.body.id as string
    const finance = createApi(hub).as((await shop.m.staff('finance')).token)
    const s1 = await sell(hub, shop, at('2026-03-14 10:15:32'), [{ kind: 'card', amount: 5800 }])
    const back = await refund(hub, shop, at('2026-03-14 16:02:10'), s1, 2000)
    const utc = (local: string) => at(local).toISOString().slice(0, 19).replace('T', ' ')
    // The reference's report layout with the checkout's own keys, and a payment_no column holding something else.
    const report = [
      'balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,charge_id,payment_intent_id,payment_metadata[payment_no],payment_metadata[pos_order_id],refund_metadata[pos_refund_id]',
      `txn_K1,${utc('2026-03-14 10:15:35')},charge,cny,58.00,1.98,56.02,ch_K1,pi_K1,NOT-OURS,${s1.tenders[0]!.paymentNo},`,
      `txn_K2,${utc('2026-03-14 16:02:12')},refund,cny,-20.00,0.00,-20.00,ch_K1,pi_K1,NOT-OURS,${s1.tenders[0]!.paymentNo},${back.tenders[0]!.refundNo}`,
    ].join('\n')
    const up = await finance.request('POST', `/api/v1/reconciliation/statements?connectionId=${connectionId}&date=2026-03-14&format=stripe_itemized&fileName=itemized.csv`, undefined, {
      raw: report,
      headers: { 'content-type': 'text/csv' },
    })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const run = await finance.post('/api/v1/reconciliation/runs', { connectionId, date: '2026-03-14' })
    expect(run.status, JSON.stringify(run.body)).toBe(200)
    expect(run.body).toMatchObject({ status: 'balanced', counts: { matched: 2, missing_in_pos: 0, missing_in_channel: 0, unknown_merchant_ref: 0 } })
  })
})
