// Stripe through the scheduled fetch: a refund made in Stripe's console (no till refund) is of the store whose payment
// it gives back, and the fees agree in the run, the summary and each store's voucher.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http, HttpResponse } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs, makeDue } from '../helpers/jobs.ts'
import { stripeSandbox } from '../../src/sandboxes/vendors/stripe.ts'
import { scheduleFetches } from '../../src/jobs/reconciliation.ts'

const KEY = 'sk_test_stripefetched00000000000'
const sh = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const secs = (d: Date) => Math.floor(d.getTime() / 1000)

describe('Stripe settlement fetched on schedule', () => {
  const { hub } = useTestHubWithDataDir('stripe-fetched')
  const sim = stripeSandbox({ secretKey: KEY })
  const server = setupServer(...sim.handlers)
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterEach(() => {
    hub.setNow(undefined)
    server.resetHandlers()
  })
  afterAll(() => server.close())

  async function shop(created: Date, stores = 1) {
    await hub.database.db.execute(sql`delete from graphile_worker._private_jobs`)
    hub.setNow(created)
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const st = [] as Awaited<ReturnType<typeof seedStore>>[]
    for (let i = 0; i < stores; i++) st.push(await seedStore(hub, m.merchantId))
    const items = [] as { sku: string }[]
    for (const s of st) items.push(await seedProduct(hub, s, { price: 1, stock: 10_000_000 }))
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: KEY } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    hub.setNow(undefined)
    const sell = async (when: Date, amount: number, storeIx = 0) => {
      hub.setNow(when)
      try {
        const r = await admin.post('/api/v1/sales', { registerId: st[storeIx]!.registerId, lines: [{ sku: items[storeIx]!.sku, quantity: amount }], tenders: [{ kind: 'card', amount }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body as { id: string; tenders: { paymentNo: string; amount: number }[] }
      } finally {
        hub.setNow(undefined)
      }
    }
    return { m, stores: st, admin, connectionId: conn.body.id as string, sell }
  }

  it('a refund made in the Stripe console (no till refund) is reported, of the store whose payment it gives back; fees agree in run, summary and voucher', async () => {
    const s = await shop(sh('2026-11-10 09:00:00'), 2)
    const a = await s.sell(sh('2026-11-12 10:00:00'), 2000, 0)
    const b = await s.sell(sh('2026-11-12 11:00:00'), 5000, 1)
    sim.addCharge({ amount: 2000, fee: 88, currency: 'cny', created: sh('2026-11-12 10:00:05'), metadata: { payment_no: a.tenders[0]!.paymentNo } })
    const cb = sim.addCharge({ amount: 5000, fee: 175, currency: 'cny', created: sh('2026-11-12 11:00:05'), metadata: { payment_no: b.tenders[0]!.paymentNo } })
    // Refund of 12.34 made in the console on store 2's payment: no metadata, only the PaymentIntent; Stripe keeps the fee.
    sim.addRefund({ charge: cb.charge, amount: 1234, created: sh('2026-11-12 15:00:00') })
    hub.setNow(sh('2026-11-13 10:35:00'))
    await scheduleFetches(hub, { now: sh('2026-11-13 10:35:00') })
    await drainJobs(hub)
    const items = await hub.database.db.execute<{ outcome: string; line_kind: string; store_id: string | null; channel_amount: number }>(sql`
      select i.outcome, l.kind as line_kind, i.store_id, i.channel_amount::int from recon_items i join settlement_lines l on l.id = i.line_id where i.connection_id = ${s.connectionId} and i.business_date = '2026-11-12' order by 1, 4`)
    expect(items.rows.filter((r) => r.line_kind === 'refund')).toEqual([{ outcome: 'missing_in_pos', line_kind: 'refund', store_id: s.stores[1]!.storeId, channel_amount: 1234 }])
    const sum = await s.admin.get(`/api/v1/reconciliation/summary?from=2026-11-12&to=2026-11-12&connectionId=${s.connectionId}`)
    expect(sum.status).toBe(200)
    const feeOf = (storeId: string | null) => (sum.body.items as any[]).filter((r) => (r.storeId ?? null) === storeId).reduce((n, r) => n + r.channelFeeMilli, 0)
    expect(feeOf(s.stores[0]!.storeId)).toBe(88_000)
    expect(feeOf(s.stores[1]!.storeId)).toBe(175_000)
    for (const [ix, fee] of [[0, 88], [1, 175]] as const) {
      const v = (await s.admin.post('/api/v1/vouchers/preview', { date: '2026-11-12', storeId: s.stores[ix]!.storeId })).body
      expect(v.lines.filter((l: any) => l.kind === 'channel_fee').reduce((n: number, l: any) => n + l.debit, 0)).toBe(fee)
      expect(v.totalDebit).toBe(v.totalCredit)
    }
    // The refund shows up in the store's channel side of the summary.
    const store2 = (sum.body.items as any[]).filter((r) => r.storeId === s.stores[1]!.storeId)
    expect(store2.length).toBeGreaterThan(0)
    expect(store2.reduce((n, r) => n + r.openExceptions, 0)).toBe(1)
  })
})
