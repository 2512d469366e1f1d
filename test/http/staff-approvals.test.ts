import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { DEFAULT_ROLE_PERMISSIONS } from '../../src/core/staff/permissions.ts'

describe('actions held for approval', () => {
  const hub = useTestHub()

  /**
   * A shop whose cashiers may manage the catalog, adjust stock and refund, but whose merchant wants a manager to
   * approve price changes, product deletion, adjustments over ¥10.00 at cost and refunds over ¥15.00.
   */
  async function shop() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, cost: 500, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'catalog.manage', 'stock.adjust', 'sales.refund'] })
    const settings = await admin.patch('/api/v1/merchant/settings', { approvals: { priceChange: true, productDelete: true, stockAdjustmentOverValue: 1000, refundOverAmount: 1500 } })
    expect(settings.status).toBe(200)
    const cashierUser = await m.staff('cashier')
    const managerUser = await m.staff('manager')
    return { m, store, item, admin, cashierUser, managerUser, cashier: createApi(hub).as(cashierUser.token), manager: createApi(hub).as(managerUser.token) }
  }

  const variantOf = async (admin: ReturnType<typeof createApi>, productId: string) => (await admin.get(`/api/v1/products/${productId}`)).body.variants[0]
  const onHand = async (variantId: string) => Number((await hub.database.db.execute(sql`select coalesce(sum(on_hand), 0)::int as n from stock_levels where variant_id = ${variantId}`)).rows[0]!.n)

  it('the rules default to none, and the settings describe them', async () => {
    const m = await seedMerchant(hub)
    const s = await createApi(hub).as(m.adminToken).get('/api/v1/merchant/settings')
    expect(s.body.approvals).toEqual({ priceChange: false, productDelete: false, stockAdjustmentOverValue: null, refundOverAmount: null, reconResolutionAbove: null })
  })

  it('holds a price change until a manager approves it; then it takes effect with both people on record, once', async () => {
    const { item, admin, cashier, manager, cashierUser, managerUser } = await shop()
    const held = await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1200 })
    expect(held.status).toBe(202)
    expect(held.body.approval).toMatchObject({ action: 'variant.update', status: 'pending', requestedBy: cashierUser.id, payload: { variantId: item.variantId, changes: { price: 1200 } } })
    expect(held.body.approval.summary).toContain('price 1000 → 1200')
    expect((await variantOf(admin, item.productId)).price).toBe(1000)

    const approved = await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, { note: 'supplier price rise' })
    expect(approved.status).toBe(200)
    expect(approved.body).toMatchObject({ status: 'approved', decidedBy: managerUser.id, decisionNote: 'supplier price rise', result: { variantId: item.variantId, price: 1200 } })
    expect((await variantOf(admin, item.productId)).price).toBe(1200)
    const change = await admin.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)
    expect(change.body.items).toEqual([expect.objectContaining({ actorId: cashierUser.id, approverId: managerUser.id, details: expect.objectContaining({ price: { from: 1000, to: 1200 } }) })])
    const decision = await admin.get(`/api/v1/audit?action=approval.approved&entityId=${held.body.approval.id}`)
    expect(decision.body.items).toEqual([expect.objectContaining({ actorId: managerUser.id, details: expect.objectContaining({ requestedBy: cashierUser.id, action: 'variant.update' }) })])

    const again = await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})
    expect(again.status).toBe(409)
    expect(again.body.error).toMatchObject({ code: 'approval_decided', details: { status: 'approved' } })
    expect((await admin.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)).body.items).toHaveLength(1)
  })

  it('two managers deciding the same request at once: one decision wins, the action runs once', async () => {
    const { m, item, admin, cashier, manager } = await shop()
    const other = createApi(hub).as((await m.staff('manager')).token)
    const held = (await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1250 })).body.approval
    const [a, b, c] = await Promise.all([
      manager.post(`/api/v1/approvals/${held.id}/approve`, {}),
      other.post(`/api/v1/approvals/${held.id}/approve`, {}),
      other.post(`/api/v1/approvals/${held.id}/reject`, {}),
    ])
    expect([a, b, c].filter((r) => r.status === 200)).toHaveLength(1)
    expect([a, b, c].filter((r) => r.status === 409)).toHaveLength(2)
    const changes = (await admin.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)).body.items
    const final = (await admin.get(`/api/v1/approvals/${held.id}`)).body
    expect(changes).toHaveLength(final.status === 'approved' ? 1 : 0)
    expect((await variantOf(admin, item.productId)).price).toBe(final.status === 'approved' ? 1250 : 1000)
  })

  it('a rejected price change never happens and cannot be approved afterwards', async () => {
    const { item, admin, cashier, manager, managerUser } = await shop()
    const held = (await cashier.patch(`/api/v1/variants/${item.variantId}`, { cost: 100, onShelf: false })).body.approval
    const rejected = await manager.post(`/api/v1/approvals/${held.id}/reject`, { note: 'no' })
    expect(rejected.body).toMatchObject({ status: 'rejected', decidedBy: managerUser.id, result: null })
    expect(await variantOf(admin, item.productId)).toMatchObject({ cost: 500, onShelf: true })
    expect((await manager.post(`/api/v1/approvals/${held.id}/approve`, {})).status).toBe(409)
    expect(await variantOf(admin, item.productId)).toMatchObject({ cost: 500, onShelf: true })
  })

  it('changes that are not a price change are not held, nor is a price given unchanged', async () => {
    const { item, admin, cashier } = await shop()
    expect((await cashier.patch(`/api/v1/variants/${item.variantId}`, { onShelf: false })).status).toBe(200)
    expect((await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1000, onShelf: true })).status).toBe(200)
    expect((await admin.get('/api/v1/approvals')).body.items).toEqual([])
  })

  it('holds a change of tax category as a price change: with tax-exclusive prices it changes what the customer pays', async () => {
    const { store, item, admin, cashier, manager, managerUser } = await shop()
    const variant = await cashier.patch(`/api/v1/variants/${item.variantId}`, { taxCategoryId: store.taxIds.reduced })
    expect(variant.status).toBe(202)
    expect(variant.body.approval.summary).toContain('taxCategory standard → reduced')
    const product = await cashier.patch(`/api/v1/products/${item.productId}`, { taxCategoryId: store.taxIds.exempt })
    expect(product.status).toBe(202)
    expect(product.body.approval).toMatchObject({ action: 'product.edit', summary: expect.stringContaining('taxCategory standard → exempt') })
    expect((await variantOf(admin, item.productId)).effectiveTaxCategoryId).toBe(store.taxIds.standard)
    // The same tax category again is no change; a manager's own change is not held.
    expect((await cashier.patch(`/api/v1/products/${item.productId}`, { taxCategoryId: store.taxIds.standard, name: 'Same tax' })).status).toBe(200)
    expect((await manager.patch(`/api/v1/products/${item.productId}`, { taxCategoryId: store.taxIds.services })).status).toBe(200)
    expect((await manager.post(`/api/v1/approvals/${variant.body.approval.id}/approve`, {})).status).toBe(200)
    expect((await variantOf(admin, item.productId)).effectiveTaxCategoryId).toBe(store.taxIds.reduced)
    const audit = await admin.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)
    expect(audit.body.items).toEqual([expect.objectContaining({ approverId: managerUser.id, details: expect.objectContaining({ taxCategoryId: { from: null, to: store.taxIds.reduced } }) })])
  })

  it('a tax category that changes nothing in force is not held: the same id in upper case, a product whose variants all have their own', async () => {
    const { store, item, admin, cashier } = await shop()
    expect((await cashier.patch(`/api/v1/variants/${item.variantId}`, { taxCategoryId: store.taxIds.standard.toUpperCase() })).status).toBe(200)
    expect((await admin.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)).body.items).toEqual([])
    expect((await admin.patch(`/api/v1/variants/${item.variantId}`, { taxCategoryId: store.taxIds.reduced })).status).toBe(200)
    // Its one variant has a category of its own now: the product's is no longer in force anywhere.
    expect((await cashier.patch(`/api/v1/products/${item.productId}`, { taxCategoryId: store.taxIds.exempt })).status).toBe(200)
    expect((await variantOf(admin, item.productId)).effectiveTaxCategoryId).toBe(store.taxIds.reduced)
  })

  it("an import from another POS that adds a SKU to an existing product keeps the product's tax category, and needs no approval", async () => {
    const { store, item, admin, cashier } = await shop()
    expect((await admin.patch(`/api/v1/products/${item.productId}`, { taxCategoryId: store.taxIds.reduced })).status).toBe(200)
    const name = (await admin.get(`/api/v1/products/${item.productId}`)).body.name
    const file = `product_name,sku,price,cost\n${name},${item.sku},10.00,5.00\n${name},ADDED-${item.sku},4.00,2.00\n`
    const r = await cashier.post('/api/v1/imports/catalog', undefined, { raw: new TextEncoder().encode(file), headers: { 'content-type': 'text/csv' } })
    expect(r.status).toBe(200)
    expect(r.body.summary).toMatchObject({ variantsCreated: 1 })
    const product = (await admin.get(`/api/v1/products/${item.productId}`)).body
    expect(product.taxCategoryId).toBe(store.taxIds.reduced)
    expect(product.variants).toHaveLength(2)
  })

  it("an import that changes a product's tax category needs a manager only while a variant outside the file takes it", async () => {
    const { store, admin, cashier } = await shop()
    const created = await admin.post('/api/v1/products', {
      name: 'Tea set',
      taxCategoryId: store.taxIds.standard,
      variants: [
        { sku: 'TEA-OWN', price: 1000, taxCategoryId: store.taxIds.reduced },
        { sku: 'TEA-INHERITS', price: 2000 },
      ],
    })
    expect(created.status).toBe(201)
    const send = () =>
      cashier.post('/api/v1/imports/catalog', undefined, { raw: new TextEncoder().encode('product_name,sku,price,tax_category\nTea set,TEA-OWN,10.00,exempt\n'), headers: { 'content-type': 'text/csv' } })
    // TEA-INHERITS is not in the file and would be taxed as exempt: a price change for its customers.
    const refused = await send()
    expect(refused.status).toBe(403)
    expect(refused.body.error).toMatchObject({ code: 'price_change_approval_required', details: { count: 1, skus: [], products: ['Tea set'] } })
    expect((await admin.get(`/api/v1/products/${created.body.id}`)).body.taxCategoryId).toBe(store.taxIds.standard)
    // With a category of its own, no variant takes the product's: the change alters no price and is no approval's business.
    const inherits = created.body.variants.find((v: { sku: string }) => v.sku === 'TEA-INHERITS')
    expect((await admin.patch(`/api/v1/variants/${inherits.id}`, { taxCategoryId: store.taxIds.services })).status).toBe(200)
    const applied = await send()
    expect(applied.status, JSON.stringify(applied.body)).toBe(200)
    const product = (await admin.get(`/api/v1/products/${created.body.id}`)).body
    expect(product.taxCategoryId).toBe(store.taxIds.exempt)
    expect(product.variants.map((v: { effectiveTaxCategoryId: string }) => v.effectiveTaxCategoryId).sort()).toEqual([store.taxIds.reduced, store.taxIds.services].sort())
  })

  it('a change of a tax rate is a price change for every item under it: held for the cashier, at once for a manager', async () => {
    const { store, item, admin, cashier, manager, managerUser } = await shop()
    const rename = await cashier.patch(`/api/v1/tax-categories/${store.taxIds.standard}`, { name: 'VAT 13%' })
    expect(rename.status).toBe(200)
    const held = await cashier.patch(`/api/v1/tax-categories/${store.taxIds.standard}`, { rateBp: 1600 })
    expect(held.status).toBe(202)
    expect(held.body.approval).toMatchObject({ action: 'tax_category.update', summary: expect.stringContaining('13% → 16%') })
    const quote = () => admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }] })
    expect((await quote()).body.taxTotal).toBe(115)
    expect((await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})).body.status).toBe('approved')
    expect((await quote()).body.taxTotal).toBe(138)
    const audit = await admin.get(`/api/v1/audit?action=tax_category.updated&entityId=${store.taxIds.standard}`)
    expect(audit.body.items[0]).toMatchObject({ approverId: managerUser.id })
    // The same rate again changes nothing; a manager's change is not held.
    expect((await cashier.patch(`/api/v1/tax-categories/${store.taxIds.standard}`, { rateBp: 1600 })).status).toBe(200)
    expect((await manager.patch(`/api/v1/tax-categories/${store.taxIds.standard}`, { rateBp: 1300 })).status).toBe(200)
  })

  it('a catalog import that changes prices needs a manager: refused for the cashier, with nothing written; told in the dry run', async () => {
    const { item, admin, cashier, managerUser } = await shop()
    const exported = await admin.get('/api/v1/catalog/export?format=csv')
    expect(exported.status).toBe(200)
    const file = exported.body as string
    expect(file).toContain(',10.00,')
    const send = (api: ReturnType<typeof createApi>, text: string, dryRun = false, headers: Record<string, string> = {}) =>
      api.post(`/api/v1/catalog/import?dryRun=${dryRun}`, undefined, { raw: new TextEncoder().encode(text), headers: { 'content-type': 'text/csv', ...headers } })
    const repriced = file.replace(',10.00,', ',12.00,')

    const dry = await send(cashier, repriced, true)
    expect(dry.status).toBe(200)
    expect(dry.body.warnings).toEqual([expect.stringContaining("1 price change (price, cost, price_per or tax category) needs a manager's approval")])
    const refused = await send(cashier, repriced)
    expect(refused.status).toBe(403)
    expect(refused.body.error).toMatchObject({ code: 'price_change_approval_required', details: { count: 1, skus: [item.sku] } })
    expect((await variantOf(admin, item.productId)).price).toBe(1000)
    expect((await admin.get('/api/v1/audit?action=catalog.imported')).body.items).toEqual([])

    // A file that changes no price goes through; so does a repricing with a manager's override, on record.
    expect((await send(cashier, file.replace(`Item ${item.sku}`, 'Renamed item'))).status).toBe(200)
    const approved = await send(cashier, repriced, false, { 'x-approver-token': managerUser.token })
    expect(approved.status).toBe(200)
    expect((await variantOf(admin, item.productId)).price).toBe(1200)
    const change = await admin.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)
    expect(change.body.items).toEqual([expect.objectContaining({ approverId: managerUser.id, details: expect.objectContaining({ source: 'import', price: { from: 1000, to: 1200 } }) })])
  })

  it('holds a product deletion (DELETE and PATCH to archived); approved, the product is archived; rejected, it stays', async () => {
    const { store, item, admin, cashier, manager, cashierUser, managerUser } = await shop()
    const held = await cashier.delete(`/api/v1/products/${item.productId}`)
    expect(held.status).toBe(202)
    expect((await admin.get(`/api/v1/products/${item.productId}`)).body.status).toBe('active')
    expect((await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})).body.status).toBe('approved')
    expect((await admin.get(`/api/v1/products/${item.productId}`)).body.status).toBe('archived')
    const audit = await admin.get(`/api/v1/audit?action=product.archived&entityId=${item.productId}`)
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: cashierUser.id, approverId: managerUser.id })])

    const other = await seedProduct(hub, store, { price: 300 })
    const patched = await cashier.patch(`/api/v1/products/${other.productId}`, { status: 'archived', name: 'Renamed' })
    expect(patched.status).toBe(202)
    expect(patched.body.approval.action).toBe('product.edit')
    await manager.post(`/api/v1/approvals/${patched.body.approval.id}/reject`, {})
    expect((await admin.get(`/api/v1/products/${other.productId}`)).body).toMatchObject({ status: 'active', name: `Item ${other.sku}` })
    expect((await cashier.patch(`/api/v1/products/${other.productId}`, { name: 'Renamed' })).status).toBe(200)
    expect((await cashier.delete(`/api/v1/products/01890a5d-ac96-774b-bcce-b302099a8057`)).status).toBe(404)
  })

  it('holds a stock adjustment over the value limit; a small one goes through at once', async () => {
    const { m, item, store, admin, cashier, manager, cashierUser, managerUser } = await shop()
    const small = await cashier.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ variantId: item.variantId, quantity: -2, reason: 'damaged' }] })
    expect(small.status).toBe(201)
    expect(await onHand(item.variantId)).toBe(8)
    // A gain and a loss both count: 1 × 500 + 2 × 500 = 1500 > 1000.
    const held = await cashier.post('/api/v1/stock/adjustments', {
      locationId: store.locationId,
      lines: [
        { variantId: item.variantId, quantity: 1, reason: 'correction' },
        { variantId: item.variantId, quantity: -2, reason: 'theft' },
      ],
    })
    expect(held.status).toBe(202)
    expect(held.body.approval).toMatchObject({ action: 'stock.adjust', status: 'pending' })
    expect(await onHand(item.variantId)).toBe(8)
    const movements = async () => Number((await hub.database.db.execute(sql`select count(*)::int as n from stock_movements where variant_id = ${item.variantId} and kind = 'adjustment'`)).rows[0]!.n)
    expect(await movements()).toBe(1)

    const approved = await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})
    expect(approved.body).toMatchObject({ status: 'approved', result: { gainValue: 500, lossValue: -1000 } })
    expect(await onHand(item.variantId)).toBe(7)
    expect(await movements()).toBe(3)
    const audit = await admin.get('/api/v1/audit?action=stock.adjusted')
    expect(audit.body.items[0]).toMatchObject({ actorId: cashierUser.id, approverId: managerUser.id })
    expect(audit.body.items[1]).toMatchObject({ actorId: cashierUser.id, approverId: null })
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a held adjustment that can no longer be made is marked failed at approval and writes nothing', async () => {
    const { m, item, store, admin, cashier, manager } = await shop()
    const held = (await cashier.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ variantId: item.variantId, quantity: -8, reason: 'expired' }] })).body.approval
    expect(held.status).toBe('pending')
    // Meanwhile most of the stock is sold.
    expect((await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 5 }], tenders: [{ kind: 'card', amount: 5000 }] })).status).toBe(201)
    const r = await manager.post(`/api/v1/approvals/${held.id}/approve`, {})
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ status: 'failed', result: null, error: { code: 'insufficient_stock' } })
    expect(await onHand(item.variantId)).toBe(5)
    expect((await admin.get('/api/v1/audit?action=stock.adjusted')).body.items).toEqual([])
    expect((await admin.get(`/api/v1/audit?action=approval.failed&entityId=${held.id}`)).body.items).toHaveLength(1)
    expect((await manager.post(`/api/v1/approvals/${held.id}/approve`, {})).status).toBe(409)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('holds a refund over the amount limit; approved, the refund names the manager; rejected, nothing is refunded', async () => {
    const { item, store, admin, cashier, manager, cashierUser, managerUser } = await shop()
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 4 }], tenders: [{ kind: 'card', amount: 4000 }] })).body
    const line = sale.lines[0].id
    const small = await cashier.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line, quantity: 1 }] })
    expect(small.status).toBe(201)
    expect(small.body.sale.refunds[0]).toMatchObject({ total: 1000, approvedBy: null })

    const held = await cashier.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line, quantity: 2 }], reason: 'wrong size' })
    expect(held.status).toBe(202)
    expect(held.body.approval).toMatchObject({ action: 'sale.refund', summary: `Refund 2000 of sale ${sale.receiptNo}` })
    let now = (await admin.get(`/api/v1/sales/${sale.id}`)).body
    expect(now.refunds).toHaveLength(1)
    expect(now.lines[0].refundedQuantity).toBe(1)
    // A refund that cannot be made at all is refused at once, not held.
    expect((await cashier.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line, quantity: 9 }] })).status).toBe(422)

    const approved = await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})
    expect(approved.body).toMatchObject({ status: 'approved', result: { total: 2000 } })
    now = (await admin.get(`/api/v1/sales/${sale.id}`)).body
    expect(now.refunds[1]).toMatchObject({ total: 2000, createdBy: cashierUser.id, approvedBy: managerUser.id, reason: 'wrong size' })
    const audit = await admin.get(`/api/v1/audit?action=sale.refunded&entityId=${sale.id}`)
    expect(audit.body.items[0]).toMatchObject({ actorId: cashierUser.id, approverId: managerUser.id, details: expect.objectContaining({ total: 2000 }) })

    const last = await cashier.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line, quantity: 1 }] })
    expect(last.status).toBe(201)
    expect(last.body.sale.lines[0].refundedQuantity).toBe(4)
    const sale2 = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2000 }] })).body
    const held2 = (await cashier.post(`/api/v1/sales/${sale2.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale2.lines[0].id, quantity: 2 }] })).body.approval
    await manager.post(`/api/v1/approvals/${held2.id}/reject`, {})
    expect((await admin.get(`/api/v1/sales/${sale2.id}`)).body.refunds).toEqual([])
  })

  it('a manager acting themselves, or a cashier with a manager’s PIN, is not held', async () => {
    const { item, admin, cashier, manager, managerUser, cashierUser } = await shop()
    expect((await manager.patch(`/api/v1/variants/${item.variantId}`, { price: 1100 })).status).toBe(200)
    await admin.put(`/api/v1/users/${managerUser.id}/pin`, { pin: '4096' })
    const r = await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1150 }, { headers: { 'X-Approver-Pin': '4096' } })
    expect(r.status).toBe(200)
    expect(r.body.price).toBe(1150)
    const audit = await admin.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)
    expect(audit.body.items[0]).toMatchObject({ actorId: cashierUser.id, approverId: managerUser.id })
    expect(audit.body.items[1]).toMatchObject({ actorId: managerUser.id, approverId: null })
    expect((await admin.get('/api/v1/approvals')).body.items).toEqual([])
  })

  it('who may see, decide and withdraw requests', async () => {
    const { m, item, admin, cashier, manager, cashierUser, managerUser } = await shop()
    const other = createApi(hub).as((await m.staff('cashier')).token)
    const mine = (await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1300 })).body.approval
    const theirs = (await other.patch(`/api/v1/variants/${item.variantId}`, { price: 1400 })).body.approval

    expect((await cashier.get('/api/v1/approvals')).body.items.map((a: any) => a.id)).toEqual([mine.id])
    expect((await cashier.get(`/api/v1/approvals/${theirs.id}`)).status).toBe(404)
    expect((await manager.get('/api/v1/approvals?status=pending')).body.items.map((a: any) => a.id)).toEqual([theirs.id, mine.id])
    expect((await cashier.post(`/api/v1/approvals/${theirs.id}/approve`, {})).status).toBe(403)
    expect((await cashier.post(`/api/v1/approvals/${theirs.id}/cancel`)).status).toBe(403)

    // Nor with a manager's PIN typed at their own till: a request is decided by someone else, from their own session.
    expect((await admin.put(`/api/v1/users/${managerUser.id}/pin`, { pin: '7315' })).status).toBe(200)
    const withPin = await cashier.post(`/api/v1/approvals/${mine.id}/approve`, {}, { headers: { 'X-Approver-Pin': '7315' } })
    expect([withPin.status, withPin.body.error?.code]).toEqual([403, 'own_request'])
    const rejected = await cashier.post(`/api/v1/approvals/${mine.id}/reject`, {}, { headers: { 'X-Approver-Pin': '7315' } })
    expect([rejected.status, rejected.body.error?.code]).toEqual([403, 'own_request'])

    // Even given the right to decide, nobody approves their own request.
    await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'catalog.manage', 'approvals.decide'] })
    const own = await cashier.post(`/api/v1/approvals/${mine.id}/approve`, {})
    expect(own.status).toBe(403)
    expect(own.body.error.code).toBe('own_request')

    const cancelled = await cashier.post(`/api/v1/approvals/${mine.id}/cancel`)
    expect(cancelled.body).toMatchObject({ status: 'cancelled', requestedBy: cashierUser.id })
    expect((await manager.post(`/api/v1/approvals/${mine.id}/approve`, {})).status).toBe(409)
    expect((await manager.get('/api/v1/approvals?status=cancelled')).body.items.map((a: any) => a.id)).toEqual([mine.id])
    expect((await variantOf(admin, item.productId)).price).toBe(1000)
  })

  it('another merchant cannot see or decide a request', async () => {
    const { item, cashier } = await shop()
    const held = (await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1300 })).body.approval
    const stranger = await seedMerchant(hub)
    const api = createApi(hub).as(stranger.adminToken)
    expect((await api.get(`/api/v1/approvals/${held.id}`)).status).toBe(404)
    expect((await api.post(`/api/v1/approvals/${held.id}/approve`, {})).status).toBe(404)
    expect((await api.get('/api/v1/approvals')).body.items).toEqual([])
  })
  it('a held request runs as its requester today: not once they are disabled, nor once their role lost the permission', async () => {
    const { item, admin, cashier, manager, cashierUser } = await shop()
    const first = (await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1200 })).body.approval
    // The role loses catalog.manage: the request fails on approval, nothing changes.
    await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'stock.adjust', 'sales.refund'] })
    const lost = await manager.post(`/api/v1/approvals/${first.id}/approve`, {})
    expect(lost.status).toBe(200)
    expect(lost.body).toMatchObject({ status: 'failed', error: { code: 'permission_denied', details: { permission: 'catalog.manage' } } })
    expect((await variantOf(admin, item.productId)).price).toBe(1000)
    // Given back, a new request is held; the cashier is then disabled: it fails too.
    await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'catalog.manage', 'stock.adjust', 'sales.refund'] })
    const second = (await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1300 })).body.approval
    expect((await admin.delete(`/api/v1/users/${cashierUser.id}`)).status).toBe(200)
    const gone = await manager.post(`/api/v1/approvals/${second.id}/approve`, {})
    expect(gone.body).toMatchObject({ status: 'failed', error: { code: 'requester_inactive' } })
    expect((await variantOf(admin, item.productId)).price).toBe(1000)
    const audit = await admin.get(`/api/v1/audit?action=approval.failed&entityId=${second.id}`)
    expect(audit.body.items).toHaveLength(1)
  })
  it('a held price change approved after someone else changed the price fails instead of overwriting the newer price', async () => {
    const { item, admin, cashier, manager } = await shop()
    const held = (await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1200 })).body.approval
    expect(held.summary).toContain('price 1000 → 1200')
    expect((await admin.patch(`/api/v1/variants/${item.variantId}`, { price: 1500 })).status).toBe(200)
    const r = await manager.post(`/api/v1/approvals/${held.id}/approve`, {})
    expect(r.body).toMatchObject({ status: 'failed', error: { code: 'changed_since_request', details: { fields: ['price'] } } })
    expect((await variantOf(admin, item.productId)).price).toBe(1500)
  })
  it('a held tax-rate or product tax-category change approved after someone else changed it fails instead of overwriting', async () => {
    const { store, item, admin, cashier, manager } = await shop()
    const rate = (await cashier.patch(`/api/v1/tax-categories/${store.taxIds.standard}`, { rateBp: 1600 })).body.approval
    expect(rate.summary).toContain('13% → 16%')
    expect((await admin.patch(`/api/v1/tax-categories/${store.taxIds.standard}`, { rateBp: 900 })).status).toBe(200)
    const r1 = await manager.post(`/api/v1/approvals/${rate.id}/approve`, {})
    expect(r1.body).toMatchObject({ status: 'failed', error: { code: 'changed_since_request', details: { fields: ['rateBp'] } } })
    expect((await admin.get('/api/v1/tax-categories')).body.items.find((t: any) => t.id === store.taxIds.standard).rateBp).toBe(900)

    const category = (await cashier.patch(`/api/v1/products/${item.productId}`, { taxCategoryId: store.taxIds.reduced })).body.approval
    expect(category).toBeDefined()
    expect((await admin.patch(`/api/v1/products/${item.productId}`, { taxCategoryId: store.taxIds.exempt })).status).toBe(200)
    const r2 = await manager.post(`/api/v1/approvals/${category.id}/approve`, {})
    expect(r2.body).toMatchObject({ status: 'failed', error: { code: 'changed_since_request', details: { fields: ['taxCategoryId'] } } })
    expect((await admin.get(`/api/v1/products/${item.productId}`)).body.taxCategoryId).toBe(store.taxIds.exempt)
    // Unchanged meanwhile, an approved change runs.
    const again = (await cashier.patch(`/api/v1/tax-categories/${store.taxIds.standard}`, { rateBp: 1300 })).body.approval
    expect((await manager.post(`/api/v1/approvals/${again.id}/approve`, {})).body.status).toBe('approved')
  })

  it('a held stock adjustment named by SKU runs on the item the SKU named when asked, and its summary names the item', async () => {
    const { m, store, item, admin, cashier, manager } = await shop()
    const other = await seedProduct(hub, store, { price: 1000, cost: 500, stock: 10 })
    const held = await cashier.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: -3, reason: 'damaged' }] })
    expect(held.status, JSON.stringify(held.body)).toBe(202)
    expect(held.body.approval.payload.lines).toEqual([expect.objectContaining({ variantId: item.variantId, quantity: -3 })])
    expect(held.body.approval.summary).toContain(`${item.sku} -3`)
    // Meanwhile the SKU passes to another item.
    expect((await admin.patch(`/api/v1/variants/${item.variantId}`, { sku: `${item.sku}-OLD` })).status).toBe(200)
    expect((await admin.patch(`/api/v1/variants/${other.variantId}`, { sku: item.sku })).status).toBe(200)
    const ok = await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
    expect([await onHand(item.variantId), await onHand(other.variantId)]).toEqual([7, 10])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })
})
