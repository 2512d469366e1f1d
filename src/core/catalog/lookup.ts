// Resolving what the till scanned or typed (SKU, barcode, scale label, variant id) to sellable variants with
// everything pricing needs: price, unit, tax rate, category chain and cost. One query on the hot path. Unit and tax
// category are the variant's effective ones: its own, else its product's. The variants are held (key share) until
// the caller's transaction ends, so their unit stays the one the sale or stock movement is counted in.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { executeNamed } from '../../db/prepared.ts'
import { invalid } from '../../lib/errors.ts'
import type { MerchantSettings } from '../merchants/settings.ts'
import { gtinKey, parseScaleLabel, typedDigits } from './barcodes.ts'
import { categoryAncestry } from './products.ts'

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
  /** The effective unit: the variant's own, else the product's. */
  unit: 'piece' | 'g' | 'ml' | 'cm'
  price: number
  pricePer: number
  cost: number
  onShelf: boolean
  status: 'active' | 'archived'
  /** The effective tax category (the variant's own, else the product's) and its rate. */
  taxCategoryId: string
  taxRateBp: number
  categoryId: string | null
  /** The category and its ancestors, nearest first (for promotion scopes); empty unless asked for. */
  categoryChain: string[]
  /** From a scale label: the weighed quantity, or the price printed on the label. */
  label?: { quantity?: number; amount?: number }
}

const describe = (r: ItemRef) => (r.sku ? `SKU ${r.sku}` : r.barcode ? `barcode ${r.barcode}` : `variant ${r.variantId}`)

type Row = {
  variant_id: string
  product_id: string
  sku: string
  option_values: Record<string, string>
  price: number
  price_per: number
  cost: number
  on_shelf: boolean
  name: string
  unit: Sellable['unit']
  status: Sellable['status']
  category_id: string | null
  tax_category_id: string
  rate_bp: number
  codes: { code: string; kind: string; gtin: string | null }[] | null
}

/** A scale label's item code as the catalog may hold it: the same number in 4 to 6 digits (01234 is PLU 1234). */
function pluForms(plu: string): string[] {
  const n = String(Number(plu))
  return [...new Set([plu, ...[4, 5, 6].filter((k) => n.length <= k).map((k) => n.padStart(k, '0'))])]
}

/** A scale item code as typed: up to the 6 digits a label carries. */
const TYPED_PLU = /^\d{1,6}$/

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Resolves every ref or throws `unknown_item` naming the first that matches nothing. With `categoryChains`, each
 * sellable also carries its category's ancestors (promotions scoped to a category cover its subcategories).
 */
export async function lookupSellables(
  tx: Tx,
  merchantId: string,
  refs: ItemRef[],
  settings: Pick<MerchantSettings, 'scaleBarcode'>,
  opts: { categoryChains?: boolean } = { categoryChains: true },
): Promise<Sellable[]> {
  // A code typed in groups of digits (6 901234 567892) is the code, as lookup and search take it.
  refs = refs.map((r) => (r.barcode && !r.variantId && !r.sku ? { ...r, barcode: typedDigits(r.barcode) } : r))
  const skus = new Set<string>()
  const ids = new Set<string>()
  const codes = new Set<string>()
  const gtins = new Set<string>()
  const labels = new Map<string, ReturnType<typeof parseScaleLabel>>()
  for (const r of refs) {
    if (r.variantId) {
      if (!UUID.test(r.variantId)) throw invalid('unknown_item', `no product matches ${describe(r)}`, r)
      ids.add(r.variantId)
    } else if (r.sku) skus.add(r.sku)
    else if (r.barcode) {
      codes.add(r.barcode)
      const gtin = gtinKey(r.barcode)
      if (gtin) gtins.add(gtin)
      const label = parseScaleLabel(r.barcode, settings.scaleBarcode)
      if (label) {
        labels.set(r.barcode, label)
        for (const plu of pluForms(label.plu)) codes.add(plu)
      } else if (TYPED_PLU.test(r.barcode)) for (const plu of pluForms(r.barcode)) codes.add(plu)
    } else throw invalid('invalid_item', 'each line needs a sku, barcode or variantId')
  }
  const { rows } = await executeNamed<Row>(tx, 'lookup_sellables', sql`
    with wanted as (
      select id from variants where merchant_id = ${merchantId} and id = any(${sql.param([...ids])}::uuid[])
      union select id from variants where merchant_id = ${merchantId} and sku = any(${sql.param([...skus])}::text[])
      union select variant_id from barcodes where merchant_id = ${merchantId} and code = any(${sql.param([...codes])}::text[])
      union select variant_id from barcodes where merchant_id = ${merchantId} and gtin = any(${sql.param([...gtins])}::text[])
    )
    select v.id as variant_id, p.id as product_id, v.sku, v.option_values, v.price, v.price_per, v.cost, v.on_shelf,
           p.name, coalesce(v.unit, p.unit) as unit, p.status, p.category_id, t.id as tax_category_id, t.rate_bp,
           (select json_agg(json_build_object('code', b.code, 'kind', b.kind, 'gtin', b.gtin)) from barcodes b
             where b.variant_id = v.id and (b.code = any(${sql.param([...codes])}::text[]) or b.gtin = any(${sql.param([...gtins])}::text[]))) as codes
      from wanted w
      -- Each wanted variant by its key, also in the generic plan a sale runs this on (see loadSaleContext): without
      -- the fence (offset 0) that plan reads the whole of a small catalog's variants to join them. Key share holds
      -- the variant as its sale or stock line will (their foreign key) from the moment its unit is read: a unit
      -- change (FOR UPDATE, see updateVariant) waits for this transaction and then sees what it counted, or this
      -- waits for the change and reads the new unit. Edits of price or shelf, and other sales, do not conflict.
      cross join lateral (select * from variants v where v.id = w.id offset 0 for key share) v
      join products p on p.id = v.product_id
      join tax_categories t on t.id = coalesce(v.tax_category_id, p.tax_category_id)`)
  const byId = new Map(rows.map((r) => [r.variant_id, r]))
  const bySku = new Map(rows.map((r) => [r.sku, r]))
  const byCode = new Map<string, Row>()
  for (const r of rows) {
    for (const c of r.codes ?? []) {
      byCode.set(`${c.kind === 'scale_plu' ? 'plu:' : ''}${c.code}`, r)
      if (c.gtin) byCode.set(`gtin:${c.gtin}`, r)
    }
  }
  const chains = opts.categoryChains
    ? await categoryAncestry(tx, merchantId, [...new Set(rows.map((r) => r.category_id).filter((c): c is string => !!c))])
    : new Map<string, string[]>()

  return refs.map((ref) => {
    let row = ref.variantId ? byId.get(ref.variantId) : ref.sku ? bySku.get(ref.sku) : undefined
    let label: Sellable['label']
    if (!row && ref.barcode) {
      const gtin = gtinKey(ref.barcode)
      row = byCode.get(ref.barcode) ?? (gtin ? byCode.get(`gtin:${gtin}`) : undefined)
      const scale = labels.get(ref.barcode)
      if (!row && scale) {
        row = pluForms(scale.plu).map((plu) => byCode.get(`plu:${plu}`)).find((x) => x !== undefined)
        label = scale.valueKind === 'weight' ? { quantity: scale.value } : { amount: scale.value }
      }
      // A PLU typed at the till, with or without the zeros a label pads it with: the line gives the weight.
      if (!row && !scale && TYPED_PLU.test(ref.barcode)) row = pluForms(ref.barcode).map((plu) => byCode.get(`plu:${plu}`)).find((x) => x !== undefined)
    }
    if (!row) throw invalid('unknown_item', `no product matches ${describe(ref)}`, ref)
    const options = Object.values(row.option_values ?? {})
    return {
      variantId: row.variant_id,
      productId: row.product_id,
      sku: row.sku,
      name: options.length ? `${row.name} (${options.join('/')})` : row.name,
      unit: row.unit,
      price: Number(row.price),
      pricePer: row.price_per,
      cost: Number(row.cost),
      onShelf: row.on_shelf,
      status: row.status,
      taxCategoryId: row.tax_category_id,
      taxRateBp: row.rate_bp,
      categoryId: row.category_id,
      categoryChain: row.category_id ? (chains.get(row.category_id) ?? [row.category_id]) : [],
      label,
    }
  })
}
