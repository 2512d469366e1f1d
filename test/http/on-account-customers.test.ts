// The customer an on-account (挂账) sale is charged to: named at checkout (customerName or the tender's accountRef,
// blanks being no name), and found again by the sales list (a customer's statement).
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('on-account customers', () => {
  const hub = useTestHub()

  async function setup() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 100 })
    const api = createApi(hub).as((await m.staff('cashier')).token)
    return { m, store, item, api, admin: createApi(hub).as(m.adminToken) }
  }

  it('a blank customer name or account reference names no customer: the on-account sale is refused', async () => {
    const { store, item, api } = await setup()
    const sell = (body: Record<string, unknown>, tender: Record<string, unknown> = {}) =>
      api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 1000, ...tender }], ...body })
    for (const [body, tender] of [[{ customerName: '   ' }, {}], [{}, { accountRef: ' ' }], [{ customerName: '\t' }, { accountRef: '  ' }]] as const) {
      const r = await sell(body, tender)
      expect([r.status, r.body.error?.code], JSON.stringify([body, tender])).toEqual([422, 'customer_required'])
    }
    // Names are kept trimmed.
    const ok = await sell({ customerName: '  ACME Ltd ' }, { accountRef: ' CUST-42 ' })
    expect(ok.status, JSON.stringify(ok.body)).toBe(201)
    expect([ok.body.customerName, ok.body.tenders[0].accountRef]).toEqual(['ACME Ltd', 'CUST-42'])
    // A blank name on a sale that needs none is no name.
    const cash = await api.post('/api/v1/sales', { registerId: store.registerId, customerName: '  ', lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1000 }] })
    expect([cash.status, cash.body.customerName]).toEqual([201, null])
  })

  it('an offline on-account sale with a blank customer is rejected and kept', async () => {
    const { store, item, api } = await setup()
    const occurredAt = new Date(hub.clock().getTime() - 60_000).toISOString()
    const res = await api.post('/api/v1/sales/batch', {
      sales: [
        { id: randomUUID(), occurredAt, registerId: store.registerId, customerName: '  ', lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 1000 }] },
        { id: randomUUID(), occurredAt, registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 1000, accountRef: ' ' }] },
        { id: randomUUID(), occurredAt, registerId: store.registerId, customerName: ' ACME ', lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 1000 }] },
      ],
    })
    expect(res.status).toBe(200)
    expect(res.body.results.map((x: any) => [x.status, x.code ?? null])).toEqual([
      ['rejected', 'customer_required'],
      ['rejected', 'customer_required'],
      ['accepted', null],
    ])
    expect((await api.get(`/api/v1/sales/${res.body.results[2].id}`)).body.customerName).toBe('ACME')
  })

  it('the sales list finds a customer’s sales by name or on-account reference, exactly, whatever the case', async () => {
    const { store, item, api, admin } = await setup()
    const sell = async (body: Record<string, unknown>) => {
      const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], ...body })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      return r.body.id as string
    }
    const byName = await sell({ customerName: 'ACME Ltd', tenders: [{ kind: 'on_account', amount: 1000 }] })
    const byRef = await sell({ customerName: 'Someone at ACME', tenders: [{ kind: 'on_account', amount: 600, accountRef: 'acme ltd' }, { kind: 'cash', amount: 400 }] })
    const named = await sell({ customerName: 'acme LTD', tenders: [{ kind: 'cash', amount: 1000 }] })
    await sell({ customerName: 'ACME Ltd.', tenders: [{ kind: 'on_account', amount: 1000 }] })
    await sell({ tenders: [{ kind: 'card', amount: 1000, accountRef: 'ACME Ltd' }] })
    await sell({ tenders: [{ kind: 'cash', amount: 1000 }] })
    const r = await admin.get(`/api/v1/sales?customer=${encodeURIComponent('  ACME LTD ')}`)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.items.map((s: any) => s.id).sort()).toEqual([byName, byRef, named].sort())
    // With the other filters, and paged.
    const page = await admin.get(`/api/v1/sales?customer=acme%20ltd&storeId=${store.storeId}&limit=2`)
    expect(page.body.items.length).toBe(2)
    const rest = await admin.get(`/api/v1/sales?customer=acme%20ltd&storeId=${store.storeId}&limit=2&cursor=${page.body.nextCursor}`)
    expect([...page.body.items, ...rest.body.items].map((s: any) => s.id).sort()).toEqual([byName, byRef, named].sort())
    expect((await admin.get('/api/v1/sales?customer=nobody')).body.items).toEqual([])
    // In the API document.
    const doc = (await createApi(hub).get('/openapi.json')).body
    expect(doc.paths['/api/v1/sales'].get.parameters.map((p: any) => p.name)).toContain('customer')
  })
})
