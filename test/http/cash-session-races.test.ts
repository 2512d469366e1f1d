// A register's cash session closing while sales, refunds and offline batches for it are in flight: whatever is
// recorded into a session is in the cash its close expected and in its Z report, and the report never changes after.
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { closeSession } from '../../src/core/sales/cash-sessions.ts'
import { SESSION_LOCK_CLASS } from '../../src/core/sales/context.ts'
import { refundSale } from '../../src/core/sales/refunds.ts'
import { systemActor } from '../../src/core/staff/actor.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs `work` in a transaction and keeps it open, uncommitted, until the returned release is called. */
async function heldOpen(hub: ReturnType<typeof useTestHub>, work: (tx: any) => Promise<unknown>) {
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  let done!: () => void
  const worked = new Promise<void>((r) => (done = r))
  const tx = hub.database.db.transaction(async (t) => {
    await work(t)
    done()
    await held
  })
  await worked
  return { release, committed: tx }
}

describe('cash sessions closing under sales in flight', () => {
  const hub = useTestHub({ poolSize: 40 })

  async function till() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1500, stock: 100 })
    const cashier = await m.staff('cashier')
    const admin = createApi(hub).as(m.adminToken)
    const sessionId = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0].id as string
    return { m, store, item, sessionId, api: createApi(hub).as(cashier.token), admin }
  }
  const offlineSale = (registerId: string, sku: string, secondsAgo: number, extra: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    occurredAt: new Date(Date.now() - secondsAgo * 1000).toISOString(),
    registerId,
    lines: [{ sku, quantity: 1, unitPrice: 1500 }],
    tenders: [{ kind: 'cash', amount: 1500 }],
    ...extra,
  })
  const cashLedger = async (sessionId: string) => Number((await hub.database.db.execute<{ s: string }>(sql`select coalesce(sum(amount), 0)::bigint as s from cash_movements where session_id = ${sessionId}`)).rows[0]!.s)

  it('sales, cash refunds, voids, paid-ins and paid-outs on one drawer at once all go through: none fails on a deadlock (5 rounds)', async () => {
    const failed: string[] = []
    for (let round = 0; round < 5; round++) {
      const { m, store, item, sessionId, admin } = await till()
      const sales: any[] = []
      for (let i = 0; i < 6; i++) sales.push((await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 3000 }] })).body)
      const sell = () => admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1500 }] })
      const refund = (s: any) => admin.post(`/api/v1/sales/${s.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: s.lines[0].id, quantity: 1 }] })
      const move = (kind: string, amount: number) => admin.post(`/api/v1/cash-sessions/${sessionId}/movements`, { kind, amount, reason: 'float' })
      const ops: [string, Promise<{ status: number; body: any }>][] = [
        ['sale', sell()], ['refund', refund(sales[0])], ['void', admin.post(`/api/v1/sales/${sales[1].id}/void`, { reason: 'x' })], ['paid_out', move('paid_out', 700)],
        ['sale', sell()], ['refund', refund(sales[2])], ['paid_in', move('paid_in', 300)], ['void', admin.post(`/api/v1/sales/${sales[3].id}/void`, { reason: 'x' })],
        ['sale', sell()], ['refund', refund(sales[4])], ['paid_out', move('paid_out', 500)], ['sale', sell()], ['refund', refund(sales[5])],
      ]
      const answers = await Promise.all(ops.map(([, p]) => p))
      answers.forEach((r, i) => r.status >= 300 && failed.push(`round ${round} ${ops[i]![0]}: ${r.status} ${r.body.error?.code}`))
      expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
      // 10,000 float + 6 × 30.00 + 4 × 15.00 − 4 × 15.00 refunded − 2 × 30.00 voided − 12.00 paid out + 3.00 paid in
      expect(await cashLedger(sessionId)).toBe(10_000 + 18_000 + 6000 - 6000 - 6000 - 1200 + 300)
    }
    expect(failed).toEqual([])
  })

  it('an offline cash sale sent while the rescue session closes goes to a new rescue session, never uncounted into the closed one', async () => {
    const { m, store, item, sessionId, api, admin } = await till()
    expect((await admin.post(`/api/v1/cash-sessions/${sessionId}/close`, { countedCash: 50_000 })).status).toBe(200)
    const first = await api.post('/api/v1/sales/batch', { sales: [offlineSale(store.registerId, item.sku, 60, { sessionId })] })
    const rescueId = (await api.get(`/api/v1/sales/${first.body.results[0].id}`)).body.sessionId
    expect(rescueId).not.toBe(sessionId)

    const close = await heldOpen(hub, (tx) => closeSession(tx, systemActor(m.merchantId, 'test'), rescueId, { countedCash: 1500 }))
    const late = offlineSale(store.registerId, item.sku, 30, { sessionId })
    const batch = api.post('/api/v1/sales/batch', { sales: [late] })
    await sleep(300)
    close.release()
    await close.committed
    const r = await batch
    expect(r.body.results[0]).toMatchObject({ status: 'accepted', warnings: [expect.objectContaining({ code: 'rescue_session' })] })
    const recorded = (await api.get(`/api/v1/sales/${late.id}`)).body
    expect(recorded.sessionId).not.toBe(rescueId)
    const closed = (await admin.get(`/api/v1/cash-sessions/${rescueId}`)).body
    expect({ expected: closed.expectedCash, ledger: await cashLedger(rescueId) }).toEqual({ expected: 1500, ledger: 1500 })
    expect(await cashLedger(recorded.sessionId)).toBe(1500)
  })

  it('closing the rescue session while offline batches arrive: the closed session holds exactly the cash it counted (4 rounds)', async () => {
    for (let round = 0; round < 4; round++) {
      const { store, item, sessionId, api, admin } = await till()
      await admin.post(`/api/v1/cash-sessions/${sessionId}/close`, { countedCash: 50_000 })
      const first = await api.post('/api/v1/sales/batch', { sales: [offlineSale(store.registerId, item.sku, 60, { sessionId })] })
      const rescueId = (await api.get(`/api/v1/sales/${first.body.results[0].id}`)).body.sessionId
      const batches = Array.from({ length: 4 }, (_, i) => api.post('/api/v1/sales/batch', { sales: [offlineSale(store.registerId, item.sku, 50 - i, { sessionId })] }))
      await sleep(round)
      const close = await admin.post(`/api/v1/cash-sessions/${rescueId}/close`, { countedCash: 1500 })
      expect(close.status).toBe(200)
      for (const b of await Promise.all(batches)) expect(b.body.results[0].status).toBe('accepted')
      expect(await cashLedger(rescueId)).toBe(close.body.session.expectedCash)
      expect((await admin.get(`/api/v1/cash-sessions/${rescueId}/report`)).body.cash).toEqual(close.body.report.cash)
      const rescues = (await hub.database.db.execute(sql`select id from cash_sessions where register_id = ${store.registerId} and rescue`)).rows
      const cashOfAll = await Promise.all(rescues.map((x) => cashLedger(x.id as string)))
      expect(cashOfAll.reduce((a, b) => a + b, 0)).toBe(5 * 1500)
    }
  })

  it('two batches for a closed session sent at once share one rescue session', async () => {
    const { store, item, sessionId, api, admin } = await till()
    await admin.post(`/api/v1/cash-sessions/${sessionId}/close`, { countedCash: 50_000 })
    const rs = await Promise.all([1, 2, 3].map((i) => api.post('/api/v1/sales/batch', { sales: [offlineSale(store.registerId, item.sku, i, { sessionId })] })))
    expect(rs.map((r) => r.body.results[0].status)).toEqual(['accepted', 'accepted', 'accepted'])
    const rescues = (await hub.database.db.execute(sql`select id from cash_sessions where register_id = ${store.registerId} and rescue`)).rows
    expect(rescues).toHaveLength(1)
  })

  it('a batch without a session named does not deadlock with a close that has begun: it waits, then goes to the rescue session', async () => {
    const { m, store, item, sessionId, api } = await till()
    let batch: Promise<{ status: number; body: any }> | undefined
    await hub.database.db.transaction(async (tx) => {
      // A close's first step, held while the batch arrives; then its second.
      await tx.execute(sql`select pg_advisory_xact_lock(${SESSION_LOCK_CLASS}, hashtext(${sessionId}))`)
      batch = api.post('/api/v1/sales/batch', { sales: [offlineSale(store.registerId, item.sku, 5)] })
      await sleep(400)
      await closeSession(tx, systemActor(m.merchantId, 'test'), sessionId, { countedCash: 50_000 })
    })
    const b = await batch!
    expect(b.status).toBe(200)
    expect(b.body.results[0]).toMatchObject({ status: 'accepted', warnings: [expect.objectContaining({ code: 'rescue_session' })] })
    const closed = (await createApi(hub).as(m.adminToken).get(`/api/v1/cash-sessions/${sessionId}`)).body
    expect(await cashLedger(sessionId)).toBe(closed.expectedCash)
  })

  it('the same batch sent twice at once records each sale once: the other answer is duplicate, never rejected', async () => {
    for (let round = 0; round < 3; round++) {
      const { m, store, item, api } = await till()
      const batch = { sales: [offlineSale(store.registerId, item.sku, 30), offlineSale(store.registerId, item.sku, 20), offlineSale(store.registerId, item.sku, 10)] }
      const [a, b] = await Promise.all([api.post('/api/v1/sales/batch', batch), api.post('/api/v1/sales/batch', batch)])
      expect([a.status, b.status]).toEqual([200, 200])
      const statuses = [...a.body.results, ...b.body.results].map((r: { status: string }) => r.status).sort()
      expect(statuses).toEqual(['accepted', 'accepted', 'accepted', 'duplicate', 'duplicate', 'duplicate'])
      expect((await hub.database.db.execute(sql`select count(*)::int as n from sales where merchant_id = ${m.merchantId}`)).rows[0]!.n).toBe(3)
      expect((await hub.database.db.execute(sql`select count(*)::int as n from sale_rejections where merchant_id = ${m.merchantId}`)).rows[0]!.n).toBe(0)
      expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
    }
  })

  it('a card refund in flight holds the close back: the Z report printed at close includes it and never changes afterwards', async () => {
    const { m, store, item, sessionId, admin } = await till()
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'wechat', amount: 3000 }] })).body
    const refund = await heldOpen(hub, async (tx) => {
      await refundSale(tx, systemActor(m.merchantId, 'test'), sale.id, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    })
    const closing = admin.post(`/api/v1/cash-sessions/${sessionId}/close`, { countedCash: 50_000 })
    expect(await Promise.race([closing.then(() => 'closed'), sleep(500).then(() => 'waiting')])).toBe('waiting')
    refund.release()
    await refund.committed
    const close = await closing
    expect(close.status).toBe(200)
    expect(close.body.report.refunds).toMatchObject({ count: 1, total: 1500 })
    const later = (await admin.get(`/api/v1/cash-sessions/${sessionId}/report`)).body
    expect(later.refunds).toEqual(close.body.report.refunds)
    expect(later.net).toEqual(close.body.report.net)
  })
})
