// Resolving what the till scanned or typed (SKU, barcode, scale label, variant id) to sellable variants with
// everything pricing needs: price, unit, tax rate, category chain and cost.
import { and, eq, inArray, or } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid } from '../../lib/errors.ts'
import type { MerchantSettings } from '../merchants/settings.ts'
import { parseScaleLabel } from './barcodes.ts'
import { categoryAncestry } from './products.ts'
import { barcodes, products, taxCategories, variants } from './schema.ts'

export interface ItemRef {
  sku?: string
  barcode?: string
  variantId?: string
}

export interface Sellable {
  variantId: string
  productId: string
  sku: string
  name: string
  unit: 'piece' | 'g' | 'ml' | 'cm'
  price: number
  pricePer: number
  cost: number
  onShelf: boolean
  status: 'active' | 'archived'
  taxCategoryId: string
  taxRateBp: number
  categoryId: string | null
  /** The category and its ancestors, nearest first (for promotion scopes). */
  categoryChain: string[]
  /** From a scale label: the weighed quantity, or the price printed on the label. */
  label?: { quantity?: number; amount?: number }
}

const describe = (r: ItemRef) => (r.sku ? `SKU ${r.sku}` : r.barcode ? `barcode ${r.barcode}` : `variant ${r.variantId}`)

/** Resolves every ref or throws `unknown_item` naming the first that matches nothing. */
export async function lookupSellables(tx: Tx, merchantId: string, refs: ItemRef[], settings: Pick<MerchantSettings, 'scaleBarcode'>): Promise<Sellable[]> {
  const skus = new Set<string>()
  const ids = new Set<string>()
  const codes = new Set<string>()
  const labels = new Map<string, ReturnType<typeof parseScaleLabel>>()
  for (const r of refs) {
    if (r.variantId) ids.add(r.variantId)
    else if (r.sku) skus.add(r.sku)
    else if (r.barcode) {
      codes.add(r.barcode)
      const label = parseScaleLabel(r.barcode, settings.scaleBarcode)
      if (label) {
        labels.set(r.barcode, label)
        codes.add(label.plu)
      }
    } else throw invalid('invalid_item', 'each line needs a sku, barcode or variantId')
  }
  const byCode = new Map<string, string>()
  if (codes.size) {
    const rows = await tx
      .select({ code: barcodes.code, variantId: barcodes.variantId, kind: barcodes.kind })
      .from(barcodes)
      .where(and(eq(barcodes.merchantId, merchantId), inArray(barcodes.code, [...codes])))
    for (const r of rows) {
      byCode.set(`${r.kind === 'scale_plu' ? 'plu:' : ''}${r.code}`, r.variantId)
      ids.add(r.variantId)
    }
  }
  const conditions = []
  if (ids.size) conditions.push(inArray(variants.id, [...ids]))
  if (skus.size) conditions.push(inArray(variants.sku, [...skus]))
  const rows = conditions.length
    ? await tx
        .select({ v: variants, p: products, rateBp: taxCategories.rateBp })
        .from(variants)
        .innerJoin(products, eq(products.id, variants.productId))
        .innerJoin(taxCategories, eq(taxCategories.id, products.taxCategoryId))
        .where(and(eq(variants.merchantId, merchantId), or(...conditions)))
    : []
  const chains = await categoryAncestry(tx, merchantId, [...new Set(rows.map((r) => r.p.categoryId).filter((c): c is string => !!c))])
  const byId = new Map(rows.map((r) => [r.v.id, r]))
  const bySku = new Map(rows.map((r) => [r.v.sku, r]))

  return refs.map((ref) => {
    let row = ref.variantId ? byId.get(ref.variantId) : ref.sku ? bySku.get(ref.sku) : undefined
    let label: Sellable['label']
    if (!row && ref.barcode) {
      const direct = byCode.get(ref.barcode)
      const scale = labels.get(ref.barcode)
      if (direct) row = byId.get(direct)
      else if (scale) {
        const v = byCode.get(`plu:${scale.plu}`)
        row = v ? byId.get(v) : undefined
        label = scale.valueKind === 'weight' ? { quantity: scale.value } : { amount: scale.value }
      }
    }
    if (!row) throw invalid('unknown_item', `no product matches ${describe(ref)}`, ref)
    return {
      variantId: row.v.id,
      productId: row.p.id,
      sku: row.v.sku,
      name: Object.keys(row.v.optionValues).length ? `${row.p.name} (${Object.values(row.v.optionValues).join('/')})` : row.p.name,
      unit: row.p.unit,
      price: row.v.price,
      pricePer: row.v.pricePer,
      cost: row.v.cost,
      onShelf: row.v.onShelf,
      status: row.p.status,
      taxCategoryId: row.p.taxCategoryId,
      taxRateBp: row.rateBp,
      categoryId: row.p.categoryId,
      categoryChain: row.p.categoryId ? (chains.get(row.p.categoryId) ?? [row.p.categoryId]) : [],
      label,
    }
  })
}
