import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// An offline batch naming another merchant's register is refused as an unknown register at once: it neither waits on
// nor writes to the other merchant's rescue session (it spun for ever, holding that register's rescue lock).
describe('an offline batch naming another merchant’s register', () => {
  const hub = useTestHub({ poolSize: 10 })

  it('is rejected as an unknown register, promptly, and touches nothing of the other merchant', async () => {
    // Merchant B: its register has an open rescue session today (a late offline sale after its close).
    const b = await seedMerchant(hub)
    const storeB = await seedStore(hub, b.merchantId)
    const itemB = await seedProduct(hub, storeB, { price: 1000, stock: 10 })
    const apiB = createApi(hub).as(b.adminToken)
    const sidB = (await apiB.get(`/api/v1/cash-sessions?registerId=${storeB.registerId}&status=open`)).body.items[0].id
    expect((await apiB.post(`/api/v1/cash-sessions/${sidB}/close`, { countedCash: 10_000 })).status).toBe(200)
    const late = { id: randomUUID(), occurredAt: new Date(Date.now() - 60_000).toISOString(), registerId: storeB.registerId, sessionId: sidB, lines: [{ sku: itemB.sku, quantity: 1, unitPrice: 1000 }], tenders: [{ kind: 'cash', amount: 1000 }] }
    expect((await apiB.post('/api/v1/sales/batch', { sales: [late] })).body.results[0].status).toBe('accepted')

    // Merchant A uploads a sale naming B's register and no session.
    const a = await seedMerchant(hub)
    const storeA = await seedStore(hub, a.merchantId)
    const itemA = await seedProduct(hub, storeA, { price: 1000, stock: 10 })
    const apiA = createApi(hub).as(a.adminToken)
    const sale = { id: randomUUID(), occurredAt: new Date(Date.now() - 30_000).toISOString(), registerId: storeB.registerId, lines: [{ sku: itemA.sku, quantity: 1, unitPrice: 1000 }], tenders: [{ kind: 'cash', amount: 1000 }] }
    const answer = apiA.post('/api/v1/sales/batch', { sales: [sale] })
    const r = await Promise.race([answer, sleep(8000).then(() => 'no answer after 8 s' as const)])
    // Meanwhile merchant B's own till uploads another late sale for its closed session.
    const late2 = { ...late, id: randomUUID(), occurredAt: new Date(Date.now() - 20_000).toISOString() }
    const bAnswer = await Promise.race([apiB.post('/api/v1/sales/batch', { sales: [late2] }), sleep(3000).then(() => 'B waits' as const)])
    if (r === 'no answer after 8 s') {
      // End the spinning request: terminate the other connections of this test's own database until it answers.
      let done = false
      answer.finally(() => (done = true)).catch(() => undefined)
      for (let i = 0; i < 50 && !done; i++) {
        await hub.database.db.execute(sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'`).catch(() => undefined)
        await sleep(100)
      }
    }
    expect({ a: r === 'no answer after 8 s' ? r : 'answered', b: bAnswer === 'B waits' ? bAnswer : 'answered' }).toEqual({ a: 'answered', b: 'answered' })
    expect((r as any).body.results[0]).toMatchObject({ status: 'rejected', code: 'register_not_found' })
  }, 30_000)

  it('with no rescue session open on the other merchant’s register, or naming its session, the sale is rejected at once', async () => {
    const b = await seedMerchant(hub)
    const storeB = await seedStore(hub, b.merchantId)
    const a = await seedMerchant(hub)
    const storeA = await seedStore(hub, a.merchantId)
    const itemA = await seedProduct(hub, storeA, { price: 1000, stock: 10 })
    const sale = { id: randomUUID(), occurredAt: new Date(Date.now() - 30_000).toISOString(), registerId: storeB.registerId, lines: [{ sku: itemA.sku, quantity: 1, unitPrice: 1000 }], tenders: [{ kind: 'cash', amount: 1000 }] }
    const r = await createApi(hub).as(a.adminToken).post('/api/v1/sales/batch', { sales: [sale] })
    expect(r.status).toBe(200)
    expect(r.body.results[0]).toMatchObject({ status: 'rejected', code: 'register_not_found' })
    const sidB = (await createApi(hub).as(b.adminToken).get(`/api/v1/cash-sessions?registerId=${storeB.registerId}&status=open`)).body.items[0].id
    const named = await createApi(hub).as(a.adminToken).post('/api/v1/sales/batch', { sales: [{ ...sale, id: randomUUID(), sessionId: sidB }] })
    expect(named.body.results[0]).toMatchObject({ status: 'rejected' })
    expect(['register_not_found', 'cash_session_not_found']).toContain(named.body.results[0].code)
    const sessionsOfB = await hub.database.db.execute(sql`select count(*)::int as n from cash_sessions where register_id = ${storeB.registerId}`)
    expect(sessionsOfB.rows[0]!.n).toBe(1)
  })
})
