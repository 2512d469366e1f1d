// A member's sale and a refund of that member's earlier sale, at two tills at once, take their locks in one order
// (the member before the stock): neither waits for the other in a circle, and both go through.
import { describe, expect, it } from 'vitest'
import pg from 'pg'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('a member sale racing a refund of the member', () => {
  const hub = useTestHub({ poolSize: 8 })

  it('a sale for a member and a refund (restocked) of the member’s earlier sale of the same item, at once, both go through', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { float: 10_000 })
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: '13700001234' })).body
    const first = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2000 }] })
    expect(first.status, JSON.stringify(first.body)).toBe(201)
    // The earlier sale's row is held a moment, so the refund has its member and waits for the sale while the new
    // sale begins: the order in which each takes its locks decides whether they meet in a circle.
    const holder = new pg.Client({ connectionString: hub.url })
    await holder.connect()
    let refund: { status: number; body: any }, sale: { status: number; body: any }
    try {
      await holder.query('begin')
      await holder.query('select id from sales where id = $1 for update', [first.body.id])
      const refunding = admin.post(`/api/v1/sales/${first.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: first.body.lines[0].id, quantity: 1 }], reason: 'changed mind' }, { headers: { 'idempotency-key': `r-${Date.now()}` } })
      await sleep(300)
      const selling = admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 1000 }] }, { headers: { 'idempotency-key': `s-${Date.now()}` } })
      await sleep(300)
      await holder.query('rollback')
      ;[refund, sale] = await Promise.all([refunding, selling])
    } finally {
      await holder.query('rollback').catch(() => undefined)
      await holder.end()
    }
    expect([refund.status, sale.status], JSON.stringify([refund.body, sale.body])).toEqual([201, 201])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
    const stock = (await admin.get(`/api/v1/stock/levels?sku=${item.sku}`)).body.items[0]
    expect(stock.onHand).toBe(50 - 2 + 1 - 1)
  })

  it('a cash refund of the member’s sale and a card top-up of the member at the same till, at once, both go through', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { float: 10_000 })
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: '13700001235' })).body
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 2000 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    // The refund has the member and waits for its sale while the top-up begins: the refund then wants the drawer
    // (cash goes out), the top-up the member.
    const holder = new pg.Client({ connectionString: hub.url })
    await holder.connect()
    let refund: { status: number; body: any }, topup: { status: number; body: any }
    try {
      await holder.query('begin')
      await holder.query('select id from sales where id = $1 for update', [sale.body.id])
      const refunding = admin.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.body.lines[0].id, quantity: 1 }] })
      await sleep(300)
      const topping = admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 5000, tenders: [{ kind: 'card', amount: 5000 }] })
      await sleep(300)
      await holder.query('rollback')
      ;[refund, topup] = await Promise.all([refunding, topping])
    } finally {
      await holder.query('rollback').catch(() => undefined)
      await holder.end()
    }
    expect([refund.status, topup.status], JSON.stringify([refund.body, topup.body])).toEqual([201, 201])
    const sv = await admin.get(`/api/v1/members/${member.id}/stored-value`)
    expect(sv.body.principal).toBe(5000)
  })

  it('a cash top-up refunded while the member tops up again at the same till, by card and in cash: all go through', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { float: 10_000 })
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: '13700001236' })).body
    const failed: string[] = []
    for (let round = 0; round < 6; round++) {
      const t = await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 3000, tenders: [{ kind: 'cash', amount: 3000 }] })
      expect(t.status, JSON.stringify(t.body)).toBe(201)
      const answers = await Promise.all([
        admin.post(`/api/v1/topups/${t.body.id}/refund`, { registerId: store.registerId, reason: 'changed mind' }),
        admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 1000, tenders: [{ kind: 'card', amount: 1000 }] }),
        admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 1000, tenders: [{ kind: 'cash', amount: 1000 }] }),
      ])
      answers.forEach((r, i) => r.status >= 300 && failed.push(`round ${round} request ${i}: ${r.status} ${r.body.error?.code}`))
    }
    expect(failed).toEqual([])
    // Six rounds of 2 × 10.00 kept; every 30.00 given back.
    expect((await admin.get(`/api/v1/members/${member.id}/stored-value`)).body.principal).toBe(12_000)
  })
})
