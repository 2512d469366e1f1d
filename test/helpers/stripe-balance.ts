// A merchant reconciling a Stripe account from balance transactions (the `stripe_balance` upload, as the fetch stores
// them): its stores, an item sold by the minor unit, the Stripe connection, and the till sales, uploads and runs the
// reconciliation tests drive.
import { expect } from 'vitest'
import type { TestHub } from './db.ts'
import { createApi, seedMerchant, type Api } from './api.ts'
import { seedProduct, seedStore, setSettings, type SeededStore } from './pos.ts'

const unix = (d: Date) => Math.floor(d.getTime() / 1000)

/** A balance transaction as Stripe lists it (`net` = amount − fee). */
export const balanceTxn = (o: { id: string; created: Date; amount: number; fee: number; currency: string; type: string; category: string; source: object | null }) => ({
  id: `txn_${o.id}`,
  object: 'balance_transaction',
  amount: o.amount,
  fee: o.fee,
  net: o.amount - o.fee,
  currency: o.currency,
  type: o.type,
  reporting_category: o.category,
  status: 'available',
  created: unix(o.created),
  fee_details: o.fee ? [{ amount: o.fee, currency: o.currency, type: 'stripe_fee' }] : [],
  source: o.source,
})

export async function stripeBalanceShop(hub: TestHub, o: { currency: string; timeZone: string; grouping: 'store' | 'merchant'; stores?: number; openedAt: Date }) {
  const m = await seedMerchant(hub, { timeZone: o.timeZone, currency: o.currency, locale: 'en' })
  await setSettings(hub, m.merchantId, { vouchers: { grouping: o.grouping } } as never)
  const api: Api = createApi(hub).as(m.adminToken)
  const stores: SeededStore[] = []
  for (let i = 0; i < (o.stores ?? 1); i++) stores.push(await seedStore(hub, m.merchantId, { openedAt: o.openedAt }))
  const store = stores[0]!
  const sku = (await seedProduct(hub, store, { price: 1, stock: 10_000_000 })).sku
  const conn = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: 'sk_test_51BalanceTests00000000' } })
  expect(conn.status, JSON.stringify(conn.body)).toBe(201)
  const connectionId: string = conn.body.id
  /** Runs `fn` with the hub's clock at `when`. */
  const at = async <T>(when: Date, fn: () => Promise<T>): Promise<T> => {
    hub.setNow(when)
    try {
      return await fn()
    } finally {
      hub.setNow(undefined)
    }
  }
  return {
    m,
    api,
    stores,
    store,
    connectionId,
    at,
    /** A card sale of `amount` minor units at the first store, with our payment number; answers the sale. */
    sell: (when: Date, amount: number, paymentNo: string) =>
      at(when, async () => {
        const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity: amount }], tenders: [{ kind: 'card', amount, paymentNo }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body
      }),
    upload: async (date: string, objs: object[]) => {
      const up = await api.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId, date, format: 'stripe_balance', fileName: `bt-${date}.jsonl` })}`, undefined, {
        raw: objs.map((x) => JSON.stringify(x)).join('\n') + '\n',
        headers: { 'content-type': 'application/x-ndjson' },
      })
      expect(up.status, JSON.stringify(up.body)).toBe(201)
    },
    run: async (date: string) => {
      const r = await api.post('/api/v1/reconciliation/runs', { connectionId, date })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body
    },
  }
}
