// A merchant with the default tax categories and API clients for its admin and a cashier, for catalog tests.
import { systemActor } from '../../../src/core/staff/actor.ts'
import { ensureDefaultTaxCategories } from '../../../src/core/catalog/tax-categories.ts'
import type { Hub } from '../../../src/runtime.ts'
import { createApi, seedMerchant, type Api, type SeededMerchant } from '../../helpers/api.ts'

export interface CatalogShop {
  m: SeededMerchant
  admin: Api
  taxIds: Record<string, string>
  cashier(): Promise<Api>
}

export async function catalogShop(hub: Hub, opts: { currency?: string } = {}): Promise<CatalogShop> {
  const m = await seedMerchant(hub, opts)
  const taxes = await hub.database.db.transaction((tx) => ensureDefaultTaxCategories(tx, systemActor(m.merchantId, 'test')))
  const api = createApi(hub)
  return {
    m,
    admin: api.as(m.adminToken),
    taxIds: Object.fromEntries(taxes.map((t) => [t.code, t.id])),
    cashier: async () => api.as((await m.staff('cashier')).token),
  }
}

let n = 0
/** A product body for POST /api/v1/products with one variant. */
export function productBody(over: Record<string, unknown> = {}, variant: Record<string, unknown> = {}) {
  n++
  return { name: `Item ${n}`, taxCategoryCode: 'standard', unit: 'piece', variants: [{ sku: `T-${process.pid}-${n}`, price: 1000, ...variant }], ...over }
}
