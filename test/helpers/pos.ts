// Seeds stores, products and stock through the core services, for tests of the till, stock and reports.
import { afterEach, expect } from 'vitest'
import { sql } from 'drizzle-orm'
import type { Hub } from '../../src/runtime.ts'
import type { Actor } from '../../src/core/staff/actor.ts'
import { systemActor } from '../../src/core/staff/actor.ts'
import { createStore } from '../../src/core/stores/service.ts'
import { ensureDefaultTaxCategories } from '../../src/core/catalog/tax-categories.ts'
import { createProduct, type ProductUnit } from '../../src/core/catalog/products.ts'
import { applyMovements } from '../../src/core/stock/ledger.ts'
import { openSession } from '../../src/core/sales/cash-sessions.ts'
import { updateSettings, type MerchantSettings } from '../../src/core/merchants/settings.ts'

export interface SeededStore {
  actor: Actor
  storeId: string
  locationId: string
  registerId: string
  taxIds: Record<'standard' | 'reduced' | 'services' | 'exempt', string>
}

let n = 0

export async function seedStore(hub: Hub, merchantId: string, opts: { code?: string; openSession?: boolean; float?: number; openedAt?: Date } = {}): Promise<SeededStore> {
  const actor = systemActor(merchantId, 'test')
  return hub.database.db.transaction(async (tx) => {
    const { store, location, register } = await createStore(tx, actor, { code: opts.code ?? `S${++n}`, name: `Store ${n}` })
    const taxes = await ensureDefaultTaxCategories(tx, actor)
    const taxIds = Object.fromEntries(taxes.map((t) => [t.code, t.id])) as SeededStore['taxIds']
    if (opts.openSession !== false) await openSession(tx, actor, { registerId: register.id, openingFloat: opts.float ?? 10_000, at: opts.openedAt })
    return { actor, storeId: store.id, locationId: location.id, registerId: register.id, taxIds }
  })
}

export interface ProductSpec {
  sku?: string
  name?: string
  price: number
  pricePer?: number
  cost?: number
  tax?: keyof SeededStore['taxIds']
  unit?: ProductUnit
  barcodes?: string[]
  categoryId?: string
  stock?: number
}

export async function seedProduct(hub: Hub, store: SeededStore, spec: ProductSpec) {
  const sku = spec.sku ?? `SKU-${process.pid}-${++n}`
  return hub.database.db.transaction(async (tx) => {
    const p = await createProduct(tx, store.actor, {
      name: spec.name ?? `Item ${sku}`,
      taxCategoryId: store.taxIds[spec.tax ?? 'standard'],
      unit: spec.unit ?? 'piece',
      categoryId: spec.categoryId,
      variants: [{ sku, price: spec.price, pricePer: spec.pricePer, cost: spec.cost ?? Math.floor(spec.price / 2), barcodes: spec.barcodes }],
    })
    const variant = p.variants[0]!
    if (spec.stock) {
      await applyMovements(tx, store.actor, [{ variantId: variant.id, locationId: store.locationId, quantity: spec.stock, kind: 'receipt', causeType: 'receipt', unitCost: variant.cost, costPer: variant.pricePer }], {
        policy: 'allow',
      })
    }
    return { productId: p.id, variantId: variant.id, sku }
  })
}

export const setSettings = (hub: Hub, merchantId: string, patch: Partial<MerchantSettings>) =>
  hub.database.db.transaction((tx) => updateSettings(tx, merchantId, patch))

/** The ledger invariant: every level's on-hand equals the sum of its movements. Returns the levels that break it. */
export async function ledgerMismatches(hub: Hub, merchantId?: string) {
  const mine = merchantId === undefined ? sql`true` : sql`merchant_id = ${merchantId}`
  const r = await hub.database.db.execute<{ variant_id: string; location_id: string; on_hand: number; ledger: number }>(sql`
    select l.variant_id, l.location_id, l.on_hand, coalesce(m.total, 0)::bigint as ledger
      from (select * from stock_levels where ${mine}) l
      left join (select location_id, variant_id, sum(quantity) as total from stock_movements where ${mine} group by 1, 2) m
        using (location_id, variant_id)
     where l.on_hand <> coalesce(m.total, 0)`)
  return r.rows
}

/** After every test of the file: each level of every merchant equals the sum of its movements (the ledger invariant). */
export function checkLedgerAfterEach(hub: Hub): void {
  afterEach(async () => {
    expect(await ledgerMismatches(hub)).toEqual([])
  })
}
