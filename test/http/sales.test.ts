import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, ledgerMismatches, seedProduct, seedStore, setSettings } from '../helpers/pos.ts'
import { gtinCheckDigit } from '../../src/core/catalog/barcodes.ts'
import { applyMovements } from '../../src/core/stock/ledger.ts'

describe('checkout', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function shop(opts: { stock?: number; price?: number } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: opts.price ?? 1990, stock: opts.stock ?? 100 })
    const cashier = await m.staff('cashier')
    return { m, store, item, api: createApi(hub).as(cashier.token), admin: createApi(hub).as(m.adminToken), cashier }
  }

  const onHand = async (variantId: string, locationId: string) =>
    Number((await hub.database.db.execute(sql`select on_hand from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)).rows[0]?.on_hand ?? 0)

  it('quotes a cart without recording anything', async () => {
    const { store, item, api, m } = await shop({ stock: 10 })
    const q = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 10000 }] })
    expect(q.status).toBe(200)
    expect(q.body).toMatchObject({ total: 5970, amountDue: 5970, paid: 5970, change: 4030, balance: 0 })
    expect(q.body.lines[0]).toMatchObject({ sku: item.sku, quantity: 3, gross: 5970, taxAmount: 687 })
    expect(await onHand(item.variantId, store.locationId)).toBe(10)
    const sales = await hub.database.db.execute(sql`select count(*)::int as n from sales where merchant_id = ${m.merchantId}`)
    expect(sales.rows[0]!.n).toBe(0)
  })

  it('completes a split-tender sale: stock, receipt number, payment numbers, change and the cash ledger in one go', async () => {
    const { store, item, api, m } = await shop({ stock: 10 })
    const r = await api.post('/api/v1/sales', {
      registerId: store.registerId,
      lines: [{ sku: item.sku, quantity: 2 }],
      tenders: [
        { kind: 'wechat', amount: 1000, channelTxnId: '4200000001202611220000000001' },
        { kind: 'cash', amount: 5000 },
      ],
    })
    expect(r.status).toBe(201)
    const sale = r.body
    expect(sale).toMatchObject({ status: 'completed', total: 3980, taxTotal: 458, changeGiven: 2020 })
    expect(sale.receiptNo).toMatch(new RegExp(`^S\\d+-${sale.businessDate.replaceAll('-', '')}-01-0001$`))
    const wechat = sale.tenders.find((t: any) => t.kind === 'wechat')
    const cash = sale.tenders.find((t: any) => t.kind === 'cash')
    expect(wechat.paymentNo).toMatch(/^TB\d{12}[0-9A-Z]{8}$/)
    expect(wechat.channelTxnId).toBe('4200000001202611220000000001')
    expect(cash).toMatchObject({ amount: 2980, received: 5000, paymentNo: null })
    expect(await onHand(item.variantId, store.locationId)).toBe(8)
    const second = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })
    expect(second.body.receiptNo.endsWith('-0002')).toBe(true)
    const events = await createApi(hub).as(m.adminToken).get('/api/v1/events?type=sale.completed')
    expect(events.body.items.map((e: any) => e.entityId)).toEqual([sale.id, second.body.id])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it("numbers a register's 10,000th sale of the day -10000, never cutting it back to a number already used", async () => {
    const { store, item, api } = await shop({ stock: 10 })
    const first = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })
    expect(first.body.receiptNo.endsWith('-0001')).toBe(true)
    // A busy day: the register's counter is at 9,999 sales.
    await hub.database.db.execute(sql`update receipt_sequences set last_seq = 9999 where register_id = ${store.registerId} and kind = 'sale'`)
    const tenThousandth = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })
    expect(tenThousandth.status).toBe(201)
    expect(tenThousandth.body.receiptNo).toBe(first.body.receiptNo.replace(/-0001$/, '-10000'))
    const next = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })
    expect(next.body.receiptNo).toBe(first.body.receiptNo.replace(/-0001$/, '-10001'))
  })

  it('takes every kind of tender in one sale: UnionPay QR, a coupon voucher, card, Alipay, on account and cash', async () => {
    const { store, item, api, m } = await shop({ stock: 10, price: 1000 })
    const r = await api.post('/api/v1/sales', {
      registerId: store.registerId,
      lines: [{ sku: item.sku, quantity: 6 }],
      customerName: '王先生',
      tenders: [
        { kind: 'unionpay_qr', amount: 1500, channelTxnId: 'UPQR20261203000001' },
        { kind: 'coupon_voucher', amount: 500, reference: { voucherNo: 'MT-88231' } },
        { kind: 'card', amount: 1000, paymentNo: 'SH01T01-CARD-0001' },
        { kind: 'alipay', amount: 1000 },
        { kind: 'on_account', amount: 1000 },
        { kind: 'cash', amount: 2000 },
      ],
    })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const byKind = Object.fromEntries(r.body.tenders.map((t: any) => [t.kind, t]))
    expect(byKind.unionpay_qr).toMatchObject({ amount: 1500, channelTxnId: 'UPQR20261203000001', paymentNo: expect.stringMatching(/^TB\d{12}[0-9A-Z]{8}$/) })
    // The terminal's own number is kept; non-electronic tenders have none.
    expect(byKind.card).toMatchObject({ amount: 1000, paymentNo: 'SH01T01-CARD-0001' })
    expect(byKind.alipay.paymentNo).toMatch(/^TB\d{12}[0-9A-Z]{8}$/)
    expect(byKind.coupon_voucher).toMatchObject({ amount: 500, paymentNo: null, reference: { voucherNo: 'MT-88231' } })
    expect(byKind.on_account).toMatchObject({ amount: 1000, paymentNo: null })
    expect(byKind.cash).toMatchObject({ amount: 1000, received: 2000 })
    expect(r.body).toMatchObject({ total: 6000, changeGiven: 1000 })
    const numbers = r.body.tenders.map((t: any) => t.paymentNo).filter(Boolean)
    expect(new Set(numbers).size).toBe(3)
    // A coupon voucher or on-account tender cannot carry a channel payment number.
    const bad = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'coupon_voucher', amount: 1000, paymentNo: 'COUPON-00001' }] })
    expect(bad.status).toBe(422)
    expect(bad.body.error.code).toBe('invalid_payment_no')
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('refuses tenders that do not cover the amount due, or non-cash tenders over it', async () => {
    const { store, item, api } = await shop()
    const under = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1000 }] })
    expect(under.status).toBe(422)
    expect(under.body.error.code).toBe('underpaid')
    const over = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 2000 }] })
    expect(over.body.error.code).toBe('overpaid')
    const none = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }] })
    expect(none.body.error.code).toBe('tenders_required')
    const onAccount = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 1990 }] })
    expect(onAccount.body.error.code).toBe('customer_required')
    const ok = await api.post('/api/v1/sales', { registerId: store.registerId, customerName: '王记餐馆', lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 1990 }] })
    expect(ok.status).toBe(201)
  })

  it('needs an open cash session on the register', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 100, stock: 5 })
    const r = await createApi(hub).as(m.adminToken).post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 100 }] })
    expect(r.status).toBe(409)
    expect(r.body.error.code).toBe('no_open_session')
  })

  it('never oversells the last units under the block policy, even with concurrent checkouts', async () => {
    const { store, item, m, cashier } = await shop({ stock: 5 })
    const api = createApi(hub).as(cashier.token)
    const results = await Promise.all(
      Array.from({ length: 12 }, () => api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })),
    )
    const ok = results.filter((r) => r.status === 201)
    const refused = results.filter((r) => r.status === 409)
    expect(ok).toHaveLength(5)
    expect(refused).toHaveLength(7)
    expect(refused.every((r) => r.body.error.code === 'insufficient_stock')).toBe(true)
    expect(await onHand(item.variantId, store.locationId)).toBe(0)
    expect(new Set(ok.map((r) => r.body.receiptNo)).size).toBe(5)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('does not sell reserved stock under the block policy', async () => {
    const { store, item, api, m } = await shop({ stock: 3 })
    await hub.database.db.execute(sql`update stock_levels set reserved = 2 where variant_id = ${item.variantId}`)
    const two = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 3980 }] })
    expect(two.body.error.code).toBe('insufficient_stock')
    expect(two.body.error.details).toMatchObject({ onHand: 3, reserved: 2, requested: 2 })
    const one = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })
    expect(one.status).toBe(201)
    await hub.database.db.execute(sql`update stock_levels set reserved = 0 where variant_id = ${item.variantId}`)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('sells below zero under the allow policy, with a stock.negative event', async () => {
    const { store, item, api, m } = await shop({ stock: 1 })
    await setSettings(hub, m.merchantId, { negativeStock: 'allow' })
    const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 3 }], tenders: [{ kind: 'card', amount: 5970 }] })
    expect(r.status).toBe(201)
    expect(r.body.stockWarnings).toEqual([{ variantId: item.variantId, locationId: store.locationId, onHand: -2 }])
    const ev = await createApi(hub).as(m.adminToken).get('/api/v1/events?type=stock.negative')
    expect(ev.body.items).toHaveLength(1)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('an Idempotency-Key replay returns the same sale and sells once', async () => {
    const { store, item, api } = await shop({ stock: 10 })
    const body = { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 2000 }] }
    const a = await api.post('/api/v1/sales', body, { headers: { 'idempotency-key': 'till-1-sale-77' } })
    const b = await api.post('/api/v1/sales', body, { headers: { 'idempotency-key': 'till-1-sale-77' } })
    expect(b.status).toBe(201)
    expect(b.body.id).toBe(a.body.id)
    expect(b.headers.get('idempotent-replayed')).toBe('true')
    expect(await onHand(item.variantId, store.locationId)).toBe(9)
  })

  it('limits manual discounts by role and price overrides to those allowed', async () => {
    const { store, item, api, admin } = await shop()
    const ten = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 1000 } }] })
    expect(ten.body.total).toBe(1791)
    const twenty = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 2000 } }] })
    expect(twenty.status).toBe(403)
    expect(twenty.body.error).toMatchObject({ code: 'discount_limit_exceeded', details: { limitBp: 1000, requestedBp: 2000 } })
    const amount = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { amount: 300 } }] })
    expect(amount.status).toBe(403) // 300 of 1990 is 15.1 %
    const override = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, unitPrice: 100 }] })
    expect(override.body.error.code).toBe('price_override_forbidden')
    const byAdmin = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, unitPrice: 1500 }], tenders: [{ kind: 'cash', amount: 1500 }] })
    expect(byAdmin.body.lines[0]).toMatchObject({ unitPrice: 1500, listPrice: 1990, total: 1500 })
    const audit = await admin.get(`/api/v1/audit?action=sale.manual_pricing&entityId=${byAdmin.body.id}`)
    expect(audit.body.items[0].details.lines[0]).toMatchObject({ listPrice: 1990, unitPrice: 1500 })
  })

  it('a manual discount bigger than its line is refused as such, whatever the role may give', async () => {
    const { store, item, admin } = await shop()
    const r = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { amount: 1991 } }] })
    expect(r.status).toBe(422)
    expect(r.body.error).toMatchObject({ code: 'discount_exceeds_line', details: { sku: item.sku, gross: 1990, discount: 1991 } })
    const all = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { amount: 1990 } }] })
    expect(all.body.total).toBe(0)
  })

  it('completes a sale with nothing to pay without tenders, and still asks for them when something is due', async () => {
    const { store, item, admin, api } = await shop({ stock: 5 })
    const free = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 10_000 } }] })
    expect(free.status).toBe(201)
    expect(free.body).toMatchObject({ total: 0, changeGiven: 0, tenders: [] })
    expect(await onHand(item.variantId, store.locationId)).toBe(4)
    const none = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [] })
    expect(none.status).toBe(422)
    expect(none.body.error.code).toBe('tenders_required')
    const report = await api.get(`/api/v1/sales/${free.body.id}`)
    expect(report.body).toMatchObject({ status: 'completed', total: 0, receiptNo: expect.stringMatching(/-0001$/) })
    const back = await admin.post(`/api/v1/sales/${free.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: free.body.lines[0].id, quantity: 1, restock: true }], reason: 'unwanted' })
    expect(back.status, JSON.stringify(back.body)).toBe(201)
    expect(await onHand(item.variantId, store.locationId)).toBe(5)
  })

  it('sells weighed goods from a scale label that carries the weight', async () => {
    const { m, store, api } = await shop()
    const bananas = await seedProduct(hub, store, { price: 698, pricePer: 1000, unit: 'g', barcodes: [], stock: 10_000, name: '香蕉' })
    await hub.database.db.execute(sql`insert into barcodes (id, merchant_id, variant_id, code, kind) values (gen_random_uuid(), ${m.merchantId}, ${bananas.variantId}, '00123', 'scale_plu')`)
    const body = '2100123' + '01250' // prefix 21, PLU 00123, 1250 g
    const label = body + gtinCheckDigit(body)
    const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ barcode: label }], tenders: [{ kind: 'cash', amount: 1000 }] })
    expect(r.status).toBe(201)
    expect(r.body.lines[0]).toMatchObject({ sku: bananas.sku, quantity: 1250, unit: 'g', gross: 873 }) // 6.98 × 1.25 = 8.725 → 8.73
    expect(await onHand(bananas.variantId, store.locationId)).toBe(8750)
    // Typed at the till in groups of digits, as lookup takes it: the same item, the same weight; an EAN likewise.
    const typed = `${label.slice(0, 7)} ${label.slice(7)}`
    expect((await api.get(`/api/v1/variants/lookup?code=${encodeURIComponent(typed)}`)).body.variantId).toBe(bananas.variantId)
    const again = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ barcode: typed }], tenders: [{ kind: 'cash', amount: 1000 }] })
    expect([again.status, again.body.lines?.[0]?.quantity]).toEqual([201, 1250])
    const ean = '690123456789' + gtinCheckDigit('690123456789')
    const milk = await seedProduct(hub, store, { price: 1000, stock: 10, barcodes: [ean] })
    const q = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ barcode: `${ean.slice(0, 1)} ${ean.slice(1, 7)} ${ean.slice(7)}` }] })
    expect([q.status, q.body.lines?.[0]?.variantId]).toEqual([200, milk.variantId])
  })

  /** A piece product at 13 % with a 9 % variant and a loose variant sold by weight (g, per kg) with scale PLU 00777. */
  async function mixedProduct(shopped: Awaited<ReturnType<typeof shop>>) {
    const { admin, store } = shopped
    const r = await admin.post('/api/v1/products', {
      name: '坚果',
      taxCategoryCode: 'standard',
      unit: 'piece',
      options: ['Pack'],
      variants: [
        { sku: 'NUTS-GIFT', optionValues: { Pack: 'Gift' }, price: 1990 },
        { sku: 'NUTS-BAG', optionValues: { Pack: 'Bag' }, price: 1990, taxCategoryCode: 'reduced' },
        { sku: 'NUTS-LOOSE', optionValues: { Pack: 'Loose' }, price: 698, pricePer: 1000, unit: 'g', taxCategoryCode: 'reduced', barcodes: [{ code: '00777', kind: 'scale_plu' }] },
      ],
    })
    expect(r.status).toBe(201)
    const bySku = Object.fromEntries(r.body.variants.map((v: any) => [v.sku, v]))
    await hub.database.db.transaction((tx) =>
      applyMovements(
        tx,
        store.actor,
        [
          { variantId: bySku['NUTS-GIFT'].id, locationId: store.locationId, quantity: 10, kind: 'receipt', causeType: 'receipt', unitCost: 1000, costPer: 1 },
          { variantId: bySku['NUTS-BAG'].id, locationId: store.locationId, quantity: 10, kind: 'receipt', causeType: 'receipt', unitCost: 1000, costPer: 1 },
          { variantId: bySku['NUTS-LOOSE'].id, locationId: store.locationId, quantity: 5000, kind: 'receipt', causeType: 'receipt', unitCost: 400, costPer: 1000 },
        ],
        { policy: 'allow' },
      ),
    )
    return { product: r.body, bySku }
  }

  it("taxes each line at its variant's own rate: a 9 % variant of a 13 % product, in a quote and in the sale", async () => {
    const shopped = await shop()
    const { api, store, m } = shopped
    await mixedProduct(shopped)
    const lines = [{ sku: 'NUTS-GIFT' }, { sku: 'NUTS-BAG' }]
    const q = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines })
    expect(q.status).toBe(200)
    // 19.90 at 13 % inclusive: 1990 × 13 / 113 = 228.94 → 229; at 9 %: 1990 × 9 / 109 = 164.31 → 164.
    expect(q.body.lines.map((l: any) => [l.sku, l.taxRateBp, l.taxAmount])).toEqual([
      ['NUTS-GIFT', 1300, 229],
      ['NUTS-BAG', 900, 164],
    ])
    expect(q.body).toMatchObject({ total: 3980, taxTotal: 393 })
    const sale = await api.post('/api/v1/sales', { registerId: store.registerId, lines, tenders: [{ kind: 'cash', amount: 3980 }] })
    expect(sale.status).toBe(201)
    expect(sale.body).toMatchObject({ total: 3980, taxTotal: 393 })
    const stored = await hub.database.db.execute(sql`
      select l.sku, t.code, l.tax_rate_bp, l.tax_amount from sale_lines l join tax_categories t on t.id = l.tax_category_id
       where l.merchant_id = ${m.merchantId} order by l.line_no`)
    expect(stored.rows.map((r: any) => [r.sku, r.code, r.tax_rate_bp, Number(r.tax_amount)])).toEqual([
      ['NUTS-GIFT', 'standard', 1300, 229],
      ['NUTS-BAG', 'reduced', 900, 164],
    ])
  })

  it('sells a weighed variant of a piece product from a scale label, in grams at its per-kg price and its own tax rate', async () => {
    const shopped = await shop()
    const { api, store } = shopped
    const { bySku } = await mixedProduct(shopped)
    const body = '2100777' + '01250' // prefix 21, PLU 00777, 1250 g
    const label = body + gtinCheckDigit(body)
    const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ barcode: label }, { sku: 'NUTS-GIFT', quantity: 2 }], tenders: [{ kind: 'cash', amount: 5000 }] })
    expect(r.status).toBe(201)
    // 6.98 per kg × 1.25 kg = 8.725 → 8.73, 9 % inclusive: 873 × 9 / 109 = 72.08 → 72.
    expect(r.body.lines[0]).toMatchObject({ sku: 'NUTS-LOOSE', quantity: 1250, unit: 'g', pricePer: 1000, gross: 873, taxRateBp: 900, taxAmount: 72 })
    expect(r.body.lines[1]).toMatchObject({ sku: 'NUTS-GIFT', quantity: 2, unit: 'piece', gross: 3980, taxRateBp: 1300 })
    expect(await onHand(bySku['NUTS-LOOSE'].id, store.locationId)).toBe(3750)
    // Its stock and sales are counted in grams now: the unit cannot go back to the product's pieces.
    const change = await shopped.admin.patch(`/api/v1/variants/${bySku['NUTS-LOOSE'].id}`, { unit: null })
    expect(change.status).toBe(409)
    expect(change.body.error.code).toBe('unit_in_use')
  })

  it('rounds cash to the jiao when the merchant says so, only when cash is tendered', async () => {
    const { store, item, api, m } = await shop({ price: 1234 })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'down' } })
    const cash = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1230 }] })
    expect(cash.body).toMatchObject({ total: 1234, roundingAdjustment: -4, changeGiven: 0 })
    const card = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1234 }] })
    expect(card.body.roundingAdjustment).toBe(0)
  })

  it('rounds the cash part of a split payment, so the drawer never owes fen it cannot give', async () => {
    const { store, item, api, m } = await shop({ price: 1234, stock: 10 })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
    // ¥12.34: ¥5.01 by card leaves ¥7.33 in cash, rounded to ¥7.30; the whole amount's rounding (¥12.30) would have
    // left ¥7.29, which a drawer holding no fen coins cannot take or change.
    const q = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 501 }, { kind: 'cash', amount: 1000 }] })
    expect(q.body).toMatchObject({ total: 1234, roundingAdjustment: -3, amountDue: 1231, paid: 1231, change: 270, balance: 0 })
    const split = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 501 }, { kind: 'cash', amount: 1000 }] })
    expect(split.status).toBe(201)
    expect(split.body).toMatchObject({ total: 1234, roundingAdjustment: -3, changeGiven: 270 })
    expect(split.body.tenders.map((t: { kind: string; amount: number }) => [t.kind, t.amount])).toEqual([['card', 501], ['cash', 730]])
    // Half up: ¥12.34 − ¥5.09 = ¥7.25 in cash rounds up to ¥7.30.
    const up = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'wechat', amount: 509 }, { kind: 'cash', amount: 730 }] })
    expect(up.status).toBe(201)
    expect(up.body).toMatchObject({ roundingAdjustment: 5, changeGiven: 0 })
    // Cash handed over as well as non-cash tenders that already cover the sale: nothing is rounded or taken in cash.
    const covered = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1234 }, { kind: 'cash', amount: 100 }] })
    expect(covered.status).toBe(201)
    expect(covered.body).toMatchObject({ roundingAdjustment: 0, changeGiven: 100 })
    // The session's cash and the Z report agree with the drawer: ¥7.30 + ¥7.30 taken, not fen amounts.
    const report = await api.get(`/api/v1/cash-sessions/${(await api.get(`/api/v1/sales/${split.body.id}`)).body.sessionId}/report`)
    expect(report.status).toBe(200)
    expect(report.body.cash.sales).toBe(1460)
  })

  it('prices tax-exclusive merchants with tax on top', async () => {
    const { store, item, api, m } = await shop({ price: 10000 })
    await setSettings(hub, m.merchantId, { taxInclusive: false })
    const q = await api.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }] })
    expect(q.body).toMatchObject({ taxInclusive: false, grossTotal: 10000, taxTotal: 1300, total: 11300 })
  })

  it('refuses amounts beyond what is counted exactly to the fen with a 422, and records nothing', async () => {
    const { store, item, api, m } = await shop({ stock: 10 })
    const tenders = await api.post('/api/v1/sales', {
      registerId: store.registerId,
      lines: [{ sku: item.sku }],
      tenders: [{ kind: 'card', amount: Number.MAX_SAFE_INTEGER }, { kind: 'wechat', amount: Number.MAX_SAFE_INTEGER }],
    })
    expect(tenders.status).toBe(422)
    expect(tenders.body.error.code).toBe('amount_out_of_range')
    const manager = await m.staff('manager')
    const gross = await createApi(hub).as(manager.token).post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 100_000_000, unitPrice: 100_000_000_000 }] })
    expect(gross.status).toBe(422)
    expect(gross.body.error.code).toBe('amount_out_of_range')
    const sales = await hub.database.db.execute(sql`select count(*)::int as n from sales where merchant_id = ${m.merchantId}`)
    expect(sales.rows[0]!.n).toBe(0)
    expect(await onHand(item.variantId, store.locationId)).toBe(10)
  })

  it('keeps sales of one merchant away from another', async () => {
    const a = await shop()
    const b = await shop()
    const sale = await a.api.post('/api/v1/sales', { registerId: a.store.registerId, lines: [{ sku: a.item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })
    expect((await b.admin.get(`/api/v1/sales/${sale.body.id}`)).status).toBe(404)
    expect((await b.admin.post(`/api/v1/sales/${sale.body.id}/void`, { reason: 'x' })).status).toBe(404)
    expect((await b.api.post('/api/v1/sales', { registerId: a.store.registerId, lines: [{ sku: b.item.sku }], tenders: [{ kind: 'card', amount: 1990 }] })).status).toBe(404)
    expect((await b.api.post('/api/v1/sales/quote', { registerId: b.store.registerId, lines: [{ sku: a.item.sku }] })).body.error.code).toBe('unknown_item')
  })
})

describe('promotions at the till', () => {
  const hub = useTestHub()

  it('a change to a promotion keeps every field it does not name (scope, stores, priority, exclusive, active)', async () => {
    const m = await seedMerchant(hub)
    const s1 = await seedStore(hub, m.merchantId)
    const s2 = await seedStore(hub, m.merchantId)
    const tea = await seedProduct(hub, s1, { price: 1000, stock: 50 })
    const cup = await seedProduct(hub, s2, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const p = await admin.post('/api/v1/promotions', { name: 'tea ¥1 off in store 1', kind: 'amount_off', level: 'item', params: { amount: 100 }, productIds: [tea.productId], storeIds: [s1.storeId], priority: 5, exclusive: true })
    expect(p.status).toBe(201)
    expect((await admin.patch(`/api/v1/promotions/${p.body.id}`, { active: false })).status).toBe(200)
    const r = await admin.patch(`/api/v1/promotions/${p.body.id}`, { name: 'renamed' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ name: 'renamed', active: false, productIds: [tea.productId], storeIds: [s1.storeId], priority: 5, exclusive: true })
    const q = await admin.post('/api/v1/sales/quote', { registerId: s2.registerId, lines: [{ sku: cup.sku }] })
    expect(q.body.total).toBe(1000)
  })

  it('an exclusive spend threshold judges its spend on the cart before discounts: a manual discount does not undo it', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/promotions', { name: '9折', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } })
    await admin.post('/api/v1/promotions', { name: '满10减1', kind: 'spend_threshold', level: 'order', exclusive: true, params: { tiers: [{ threshold: 1000, amount: 100 }] } })
    const plain = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }] })
    expect(plain.body.total).toBe(900)
    expect(plain.body.applied.map((a: any) => a.label)).toEqual(['满10减1'])
    // 50 off by hand, then the exclusive 满10减1 it claimed the line with: 1000 − 50 − 100.
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { amount: 50 } }] })
    expect(q.body.total).toBe(850)
    expect(q.body.applied.map((a: any) => a.label)).toContain('满10减1')
  })

  it('an exclusive bundle keeps other promotions off its own components only', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const a = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const b = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const c = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/promotions', { name: '9折', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } })
    await admin.post('/api/v1/promotions', { name: 'A+B ¥15', kind: 'bundle', level: 'item', exclusive: true, params: { price: 1500, components: [{ quantity: 1, productIds: [a.productId] }, { quantity: 1, productIds: [b.productId] }] } })
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: a.sku }, { sku: b.sku }, { sku: c.sku }] })
    expect(q.body.lines.map((l: any) => l.total)).toEqual([750, 750, 900])
  })

  it('an exclusive buy-one-get-one keeps other promotions off the piece lines it counts, not off weighed lines', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const pen = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const banana = await seedProduct(hub, store, { price: 1000, pricePer: 1000, unit: 'g', stock: 50_000 })
    await admin.post('/api/v1/promotions', { name: '9折', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } })
    await admin.post('/api/v1/promotions', { name: '买一送一', kind: 'buy_x_get_y', level: 'item', exclusive: true, params: { buy: 1, get: 1 } })
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: pen.sku, quantity: 2 }, { sku: banana.sku, quantity: 1000 }] })
    expect(q.body.lines.map((l: any) => l.total)).toEqual([1000, 900])
  })

  it('stacks promotions in the documented order; an exclusive one keeps others off its lines', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const tea = await seedProduct(hub, store, { price: 3000, stock: 50, name: '龙井' })
    const cup = await seedProduct(hub, store, { price: 2000, stock: 50, name: 'Cup' })
    const admin = createApi(hub).as(m.adminToken)
    const p1 = await admin.post('/api/v1/promotions', { name: '9折', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } })
    expect(p1.status).toBe(201)
    await admin.post('/api/v1/promotions', { name: '满40减5', kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 4000, amount: 500 }] } })
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: tea.sku }, { sku: cup.sku }] })
    // 3000 → 2700, 2000 → 1800; 4500 ≥ 4000 so 500 off spread 300/200
    expect(q.body.lines.map((l: any) => l.total)).toEqual([2400, 1600])
    expect(q.body.applied.map((a: any) => [a.label, a.amount])).toEqual([
      ['9折', 500],
      ['满40减5', 500],
    ])
    await admin.post('/api/v1/promotions', { name: 'Tea half price', kind: 'percent_off', level: 'item', params: { percentBp: 5000 }, productIds: [tea.productId], exclusive: true })
    const q2 = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: tea.sku }, { sku: cup.sku }] })
    // Tea: only its exclusive 50 % → 1500. Cup: 10 % → 1800; the threshold counts only the cup (1800 < 4000).
    expect(q2.body.lines.map((l: any) => l.total)).toEqual([1500, 1800])
  })

  it('a sale read back lists each line’s discounts and the tenders in the order they were applied, however the rows lie on disk', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const tea = await seedProduct(hub, store, { price: 3000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/promotions', { name: '9折', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } })
    await admin.post('/api/v1/promotions', { name: '满40减5', kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 4000, amount: 500 }] } })
    const sold = await admin.post('/api/v1/sales', {
      registerId: store.registerId,
      lines: [{ sku: tea.sku, quantity: 2, discount: { amount: 100 } }],
      tenders: [{ kind: 'card', amount: 3000 }, { kind: 'wechat', amount: 1000 }, { kind: 'cash', amount: 800 }],
    })
    expect(sold.status, JSON.stringify(sold.body)).toBe(201)
    const order = (sale: any) => ({ adjustments: sale.lines[0].adjustments.map((a: any) => a.label), tenders: sale.tenders.map((t: any) => t.kind) })
    expect(order(sold.body).adjustments).toHaveLength(3)
    // The first rows written again behind the others, as a table's reused free space can leave them.
    for (const [table, id] of [['sale_adjustments', sold.body.lines[0].adjustments[0].id], ['sale_tenders', sold.body.tenders[0].id]]) {
      await hub.database.db.execute(sql`with d as (delete from ${sql.identifier(table)} where id = ${id} returning *) insert into ${sql.identifier(table)} select * from d`)
    }
    expect(order((await admin.get(`/api/v1/sales/${sold.body.id}`)).body)).toEqual(order(sold.body))
  })

  it('refuses a promotion whose parameters do not fit its kind', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const r = await admin.post('/api/v1/promotions', { name: 'bad', kind: 'buy_x_get_y', level: 'order', params: { buy: 2, get: 1 } })
    expect(r.status).toBe(422)
    expect(r.body.error.code).toBe('invalid_promotion_level')
    const r2 = await admin.post('/api/v1/promotions', { name: 'bad', kind: 'percent_off', level: 'item', params: { percentBp: 0 } })
    expect(r2.body.error.code).toBe('invalid_promotion_params')
  })

  it('only applies promotions in their time window and stores', async () => {
    const m = await seedMerchant(hub)
    const s1 = await seedStore(hub, m.merchantId)
    const s2 = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, s1, { price: 1000 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/promotions', { name: 'store 1 only', kind: 'amount_off', level: 'item', params: { amount: 100 }, storeIds: [s1.storeId] })
    await admin.post('/api/v1/promotions', { name: 'expired', kind: 'amount_off', level: 'item', params: { amount: 100 }, endsAt: new Date(Date.now() - 60_000).toISOString() })
    await admin.post('/api/v1/promotions', { name: 'future', kind: 'amount_off', level: 'item', params: { amount: 100 }, startsAt: new Date(Date.now() + 3600_000).toISOString() })
    expect((await admin.post('/api/v1/sales/quote', { registerId: s1.registerId, lines: [{ sku: item.sku }] })).body.total).toBe(900)
    expect((await admin.post('/api/v1/sales/quote', { registerId: s2.registerId, lines: [{ sku: item.sku }] })).body.total).toBe(1000)
  })
})
