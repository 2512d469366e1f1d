// What an on-account (挂账) tender charged goes back to that account on a refund: the customer never paid it, so it
// never leaves as money (cash out of the drawer, a card), and an on-account refund always lowers what a named
// customer owes on this sale (the sale's own on-account tender, never more than it charged).
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore } from '../helpers/pos.ts'

describe('refunds of a sale charged to an account', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function setup(price: number) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price, stock: 20 })
    const mgr = createApi(hub).as((await m.staff('manager')).token)
    const refundCash = async () => Number((await hub.database.db.execute(sql`select coalesce(-sum(amount), 0)::bigint as n from cash_movements where kind = 'refund' and merchant_id = ${m.merchantId}`)).rows[0]!.n)
    const sell = async (body: Record<string, unknown>) => {
      const r = await mgr.post('/api/v1/sales', { registerId: store.registerId, ...body })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      return r.body
    }
    const refund = (sale: any, quantity: number, tenders?: unknown[]) =>
      mgr.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity }], ...(tenders ? { tenders } : {}) })
    return { m, store, item, mgr, refundCash, sell, refund }
  }

  it('a sale wholly on account is not refunded as cash or to a card, even by a manager: it goes back to the account', async () => {
    const { item, refundCash, sell, refund } = await setup(10_000)
    const sale = await sell({ customerName: 'ACME Ltd', lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 10_000 }] })
    for (const tenders of [[{ kind: 'cash', amount: 10_000 }], [{ kind: 'card', amount: 10_000 }], [{ kind: 'cash', amount: 4000 }, { kind: 'on_account', amount: 6000 }]]) {
      const r = await refund(sale, 1, tenders)
      expect([r.status, r.body.error?.code, r.body.error?.details]).toEqual([422, 'refund_to_account', { onAccount: 10_000 }])
    }
    expect(await refundCash()).toBe(0)
    // Named as the on-account tender, or the default way: back to the account it was charged to.
    const r = await refund(sale, 1, [{ kind: 'on_account', amount: 10_000 }])
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.sale.refunds[0].tenders).toMatchObject([{ kind: 'on_account', amount: 10_000, saleTenderId: sale.tenders[0].id }])
    expect(r.body.sale.tenders[0].refundedAmount).toBe(10_000)
    expect(await refundCash()).toBe(0)
  })

  it('a sale part on account and part by card: money back never adds up to more than the card paid, and the default split sends the rest to the account', async () => {
    const { item, refundCash, sell, refund } = await setup(5000)
    const sale = await sell({ customerName: 'ACME Ltd', lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'on_account', amount: 6000 }, { kind: 'card', amount: 4000 }] })
    // One unit back: 4000 as cash instead of the card (all the money paid), 1000 to the account.
    const r1 = await refund(sale, 1, [{ kind: 'cash', amount: 4000 }, { kind: 'on_account', amount: 1000 }])
    expect(r1.status, JSON.stringify(r1.body)).toBe(201)
    expect(await refundCash()).toBe(4000)
    // The other unit: no more money may leave. All as cash, or to the card, is refused.
    for (const tenders of [[{ kind: 'cash', amount: 5000 }], [{ kind: 'cash', amount: 1000 }, { kind: 'on_account', amount: 4000 }], [{ kind: 'on_account', amount: 1000 }, { kind: 'card', amount: 4000 }]]) {
      const refused = await refund(sale, 1, tenders)
      expect([refused.status, refused.body.error?.code, refused.body.error?.details]).toEqual([422, 'refund_to_account', { onAccount: 5000 }])
    }
    // The default way (the card still looks open, the cash having been given instead of it): all to the account.
    const r2 = await refund(sale, 1)
    expect(r2.status, JSON.stringify(r2.body)).toBe(201)
    expect(r2.body.sale.refunds[1].tenders.map((t: any) => [t.kind, t.amount])).toEqual([['on_account', 5000]])
    expect(r2.body.sale.tenders.map((t: any) => [t.kind, t.refundedAmount])).toEqual([['on_account', 6000], ['card', 0]])
    expect(await refundCash()).toBe(4000)
  })

  it('a refund to on account is refused on a sale charged to no account: it would credit nobody', async () => {
    const { item, sell, refund } = await setup(10_000)
    const sale = await sell({ lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 10_000 }] })
    const r = await refund(sale, 1, [{ kind: 'on_account', amount: 10_000 }])
    expect([r.status, r.body.error?.code]).toEqual([422, 'refund_tender_kind'])
    const named = await refund(sale, 1, [{ kind: 'on_account', amount: 10_000, saleTenderId: sale.tenders[0].id }])
    expect([named.status, named.body.error?.code]).toEqual([422, 'refund_tender_kind'])
  })

  it('a refund to on account beyond what the account was charged is refused, not recorded apart from the sale’s tender', async () => {
    const { item, sell, refund } = await setup(10_000)
    const sale = await sell({ customerName: 'ACME', lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 6000 }, { kind: 'cash', amount: 5000 }] })
    expect(sale.tenders.map((t: any) => [t.kind, t.amount])).toEqual([['on_account', 6000], ['cash', 4000]])
    const over = await refund(sale, 1, [{ kind: 'on_account', amount: 10_000 }])
    expect([over.status, over.body.error?.code]).toEqual([422, 'refund_exceeds_tender'])
    const r = await refund(sale, 1, [{ kind: 'on_account', amount: 6000 }, { kind: 'cash', amount: 4000 }])
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const oa = r.body.sale.tenders.find((t: any) => t.kind === 'on_account')
    expect(r.body.sale.refunds[0].tenders.map((t: any) => [t.kind, t.amount, t.saleTenderId])).toEqual([['on_account', 6000, oa.id], ['cash', 4000, sale.tenders[1].id]])
    expect(oa.refundedAmount).toBe(6000)
  })

  it('a sale charged to two accounts: a refund naming the kind only is ambiguous, one naming the tender goes to that account', async () => {
    const { item, sell, refund } = await setup(3000)
    const sale = await sell({
      lines: [{ sku: item.sku, quantity: 2 }],
      tenders: [{ kind: 'on_account', amount: 3000, accountRef: 'COMPANY-A' }, { kind: 'on_account', amount: 3000, accountRef: 'COMPANY-B' }],
    })
    const r = await refund(sale, 1, [{ kind: 'on_account', amount: 3000 }])
    expect([r.status, r.body.error?.code, r.body.error?.details]).toEqual([422, 'refund_tender_ambiguous', { kind: 'on_account' }])
    const b = sale.tenders.find((t: any) => t.accountRef === 'COMPANY-B')
    const ok = await refund(sale, 1, [{ kind: 'on_account', amount: 3000, saleTenderId: b.id }])
    expect(ok.status, JSON.stringify(ok.body)).toBe(201)
    expect(ok.body.sale.refunds[0].tenders).toMatchObject([{ kind: 'on_account', amount: 3000, saleTenderId: b.id, accountRef: 'COMPANY-B' }])
    expect(ok.body.sale.tenders.map((t: any) => [t.accountRef, t.refundedAmount])).toEqual([['COMPANY-A', 0], ['COMPANY-B', 3000]])
  })

  it('two on-account tenders of one customer: a refund naming the kind goes to one with room for it', async () => {
    const { item, sell, refund } = await setup(3000)
    const sale = await sell({ customerName: 'ACME', lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'on_account', amount: 3000 }, { kind: 'on_account', amount: 3000 }] })
    const r1 = await refund(sale, 1, [{ kind: 'on_account', amount: 3000 }])
    expect(r1.status, JSON.stringify(r1.body)).toBe(201)
    const r2 = await refund(sale, 1, [{ kind: 'on_account', amount: 3000 }])
    expect(r2.status, JSON.stringify(r2.body)).toBe(201)
    expect(r2.body.sale.tenders.map((t: any) => t.refundedAmount)).toEqual([3000, 3000])
  })
})
