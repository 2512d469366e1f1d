// Products and their variants. A variant is what is sold and stocked: SKU (unique per merchant), barcodes, price
// and cost in minor units per `pricePer` base units, and whether it is on the shelf. A variant may have its own tax
// category and unit; without one it takes the product's (the effective value is coalesce(variant, product)).
import { and, asc, eq, inArray, ne, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { barcodeKey, barcodeKeys, checkBarcode, PLU_KEY_SQL, pluKey } from './barcodes.ts'
import { barcodes, categories, products, taxCategories, variants, type BarcodeKind } from './schema.ts'

export type Product = typeof products.$inferSelect
export type Variant = typeof variants.$inferSelect
export type Barcode = typeof barcodes.$inferSelect
export type ProductUnit = Product['unit']

export interface BarcodeInput {
  code: string
  kind?: BarcodeKind
}

export interface VariantInput {
  sku: string
  optionValues?: Record<string, string>
  /** The variant's own tax category; null or absent inherits the product's. */
  taxCategoryId?: string | null
  /** The variant's own unit; null or absent inherits the product's. `price`/`pricePer` are in this unit. */
  unit?: ProductUnit | null
  price: number
  pricePer?: number
  cost?: number
  onShelf?: boolean
  barcodes?: (BarcodeInput | string)[]
}

export interface ProductInput {
  name: string
  nameEn?: string | null
  description?: string | null
  categoryId?: string | null
  taxCategoryId: string
  unit?: ProductUnit
  options?: string[]
  variants: VariantInput[]
}

export interface ProductWithVariants extends Product {
  variants: (Variant & { barcodes: { code: string; kind: BarcodeKind }[]; effectiveTaxCategoryId: string; effectiveUnit: ProductUnit })[]
}

const SKU = /^[A-Za-z0-9._/-]{1,64}$/
export const UNITS: readonly ProductUnit[] = ['piece', 'g', 'ml', 'cm']

function checkUnit(unit: ProductUnit | null | undefined, sku: string) {
  if (unit != null && !UNITS.includes(unit)) throw invalid('invalid_unit', `unit of ${sku} is one of ${UNITS.join(', ')}`, { sku, unit })
}

function checkMoney(value: number, what: string) {
  if (!Number.isSafeInteger(value) || value < 0) throw invalid('invalid_amount', `${what} must be a whole, non-negative number of minor units`)
}

function normaliseBarcodes(list: (BarcodeInput | string)[] | undefined, sku: string): { code: string; kind: BarcodeKind }[] {
  return (list ?? []).map((b) => {
    const input = typeof b === 'string' ? { code: b } : b
    const r = checkBarcode(input.code, input.kind)
    if (!r.ok) throw invalid('invalid_barcode', `barcode ${input.code} of ${sku}: ${r.reason}`, { sku, barcode: input.code })
    return { code: input.code.trim(), kind: r.kind }
  })
}

/**
 * Refuses a barcode a request names twice: written the same way as a GTIN (a UPC-A and its EAN-13 form), or sharing a
 * key the database holds it under (an internal code and an EAN-13 of the same digits clash there), before the
 * database would report it as another variant's.
 */
function noRepeat(seen: Set<string>, b: { code: string; kind: BarcodeKind }) {
  const keys = [barcodeKey(b), ...barcodeKeys(b)]
  if (keys.some((k) => seen.has(k))) throw invalid('duplicate_barcode', `barcode ${b.code} appears twice`)
  for (const k of keys) seen.add(k)
}

/**
 * Refuses a scale item code (PLU) another variant holds written with other leading zeros: the database's unique
 * index holds codes as written, while the till reads 01234 and 1234 as one item.
 */
async function assertPlusFree(tx: Tx, merchantId: string, list: { code: string; kind: BarcodeKind }[], exceptVariantIds: string[]) {
  const plus = list.filter((b) => b.kind === 'scale_plu')
  if (plus.length === 0) return
  const [held] = await tx
    .select({ code: barcodes.code })
    .from(barcodes)
    .where(
      and(
        eq(barcodes.merchantId, merchantId),
        eq(barcodes.kind, 'scale_plu'),
        sql`${PLU_KEY_SQL(sql`${barcodes.code}`)} = any(${sql.param(plus.map((b) => pluKey(b.code)))}::text[])`,
        exceptVariantIds.length ? sql`not (${barcodes.variantId} = any(${sql.param(exceptVariantIds)}::uuid[]))` : undefined,
      ),
    )
    .limit(1)
  if (held) throw conflict('barcode_taken', `scale item code ${held.code} already belongs to another variant (the same item code however many zeros it is written with)`, { code: held.code })
}

/** Locks a product's row until the transaction ends (404 when it is not the merchant's). */
async function lockProduct(tx: Tx, merchantId: string, id: string) {
  const [p] = await tx.select({ id: products.id }).from(products).where(and(eq(products.merchantId, merchantId), eq(products.id, id))).for('update')
  if (!p) throw notFound('product', id)
}

/** A variant's place among its product's options: its value for each (blank for none), in the product's order. */
export const optionKey = (options: string[], values: Record<string, string>) => JSON.stringify(options.map((o) => values[o] ?? ''))

/**
 * Refuses a variant being added or changed that has the same value for each option as another of its product (the
 * till would name them alike: "Shirt (L/Red)"). Only what `changed` brings is judged: variants already alike (a
 * product that has just been given its first option, all of them blank for it) are not this change's doing, and get
 * their values one by one. A product without options is told apart by SKU.
 */
function assertDistinctOptions(options: string[], others: VariantOptions[], changed: VariantOptions[]) {
  const [clash] = optionClashes(options, others, changed)
  if (!clash) return
  const { variant: v, other } = clash
  throw invalid('duplicate_variant_options', `${other} and ${v.sku} have the same options (${options.map((o) => `${o}=${v.optionValues[o] ?? ''}`).join(';')})`, { skus: [other, v.sku] })
}

type VariantOptions = { sku: string; optionValues: Record<string, string> }

/**
 * The variants of `changed` that have the same value for each option as another (one of `others`, or one of `changed`
 * before them), each with that other's SKU. The rule of assertDistinctOptions, for the catalog import's row errors.
 */
export function optionClashes<T extends VariantOptions>(options: string[], others: VariantOptions[], changed: T[]): { variant: T; other: string }[] {
  if (options.length === 0) return []
  const seen = new Map<string, string>()
  for (const v of others) {
    const key = optionKey(options, v.optionValues)
    if (!seen.has(key)) seen.set(key, v.sku)
  }
  const clashes: { variant: T; other: string }[] = []
  for (const v of changed) {
    const key = optionKey(options, v.optionValues)
    const other = seen.get(key)
    if (other !== undefined) clashes.push({ variant: v, other })
    else seen.set(key, v.sku)
  }
  return clashes
}

/**
 * Option names as the catalog file can write them back (Name=Value;Name=Value, see import-export.ts): trimmed,
 * non-empty, distinct and without "=" or ";".
 */
function cleanOptions(names: string[]): string[] {
  const options = names.map((o) => o.trim())
  if (options.some((o) => !o)) throw invalid('invalid_option', 'option names must not be empty')
  const bad = options.find((o) => /[=;]/.test(o))
  if (bad !== undefined) throw invalid('invalid_option', `option name "${bad}" may not contain "=" or ";" (the catalog file writes options as Name=Value;Name=Value)`)
  if (new Set(options).size !== options.length) throw invalid('invalid_option', 'option names must be distinct')
  return options
}

/** A variant's option values, by the same rule: trimmed, non-empty and without ";". */
function cleanOptionValues(values: Record<string, string> | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => {
      const v = value.trim()
      if (!v) throw invalid('invalid_option', `option "${name}" needs a value`)
      if (v.includes(';')) throw invalid('invalid_option', `the value "${v}" of option "${name}" may not contain ";" (the catalog file writes options as Name=Value;Name=Value)`)
      return [name, v]
    }),
  )
}

const cleanNameEn = (nameEn: string | null | undefined) => (nameEn === undefined ? undefined : nameEn?.trim() || null)

function checkVariant(v: VariantInput, options: string[]) {
  if (!SKU.test(v.sku)) throw invalid('invalid_sku', `SKU "${v.sku}" must be 1–64 letters, digits or - . _ /`)
  checkMoney(v.price, `price of ${v.sku}`)
  if (v.cost !== undefined) checkMoney(v.cost, `cost of ${v.sku}`)
  if (v.pricePer !== undefined && (!Number.isSafeInteger(v.pricePer) || v.pricePer <= 0)) throw invalid('invalid_price_per', `pricePer of ${v.sku} must be a positive whole number`)
  checkUnit(v.unit, v.sku)
  for (const k of Object.keys(v.optionValues ?? {})) {
    if (!options.includes(k)) throw invalid('unknown_option', `variant ${v.sku} has a value for option "${k}", which the product does not define`)
  }
}

async function assertCategory(tx: Tx, merchantId: string, categoryId: string | null | undefined) {
  if (!categoryId) return
  // Key share, as the product's reference will hold it: a delete of the category waits for this product (deleteCategory).
  const [c] = await tx.select({ id: categories.id }).from(categories).where(and(eq(categories.merchantId, merchantId), eq(categories.id, categoryId))).for('key share')
  if (!c) throw invalid('unknown_category', `category ${categoryId} does not exist`)
}

/** The tax categories must be the merchant's: another merchant's is unknown, like one that does not exist. */
async function assertTaxCategories(tx: Tx, merchantId: string, ids: (string | null | undefined)[]) {
  const wanted = [...new Set(ids.filter((id): id is string => !!id))]
  if (wanted.length === 0) return
  const found = await tx.select({ id: taxCategories.id }).from(taxCategories).where(and(eq(taxCategories.merchantId, merchantId), inArray(taxCategories.id, wanted)))
  const missing = wanted.find((id) => !found.some((t) => t.id === id))
  if (missing) throw invalid('unknown_tax_category', `tax category ${missing} does not exist`, { taxCategoryId: missing })
}
const assertTaxCategory = (tx: Tx, merchantId: string, id: string) => assertTaxCategories(tx, merchantId, [id])

/**
 * Quantities of a variant's stock and sales are counted in its effective unit, so the unit cannot change once
 * the variant has stock (a level at any location) or has been sold. True only with the variant held FOR UPDATE
 * (updateVariant), so no sale or stock movement of it is in flight unseen.
 */
async function variantInUse(tx: Tx, merchantId: string, variantId: string): Promise<boolean> {
  const r = await tx.execute<{ used: boolean }>(sql`
    select exists (select 1 from stock_levels where merchant_id = ${merchantId} and variant_id = ${variantId})
        or exists (select 1 from sale_lines where merchant_id = ${merchantId} and variant_id = ${variantId}) as used`)
  return r.rows[0]!.used
}

/** Turns unique-index violations into the conflict a caller can act on. */
function translateUnique(e: unknown): never {
  if (isUniqueViolation(e, 'variants_sku_key')) throw conflict('sku_taken', 'a variant with this SKU already exists', { constraint: 'variants_sku_key' })
  // One index per code as written, one per GTIN however it is written (a UPC-A and its EAN-13 form).
  const barcodeKey = ['barcodes_code_key', 'barcodes_gtin_key'].find((c) => isUniqueViolation(e, c))
  if (barcodeKey) throw conflict('barcode_taken', 'this barcode already belongs to another variant', { constraint: barcodeKey })
  throw e
}

async function insertVariants(tx: Tx, merchantId: string, productId: string, list: VariantInput[], options: string[], siblings: Variant[] = []) {
  await assertTaxCategories(tx, merchantId, list.map((v) => v.taxCategoryId))
  const skus = new Set<string>()
  const codes = new Set<string>()
  const rows: (typeof variants.$inferInsert)[] = []
  const codeRows: (typeof barcodes.$inferInsert)[] = []
  for (const v of list) {
    checkVariant(v, options)
    if (skus.has(v.sku)) throw invalid('duplicate_sku', `SKU ${v.sku} appears twice`)
    skus.add(v.sku)
    const id = newId()
    rows.push({
      id,
      merchantId,
      productId,
      sku: v.sku,
      optionValues: cleanOptionValues(v.optionValues) ?? {},
      taxCategoryId: v.taxCategoryId ?? null,
      unit: v.unit ?? null,
      price: v.price,
      pricePer: v.pricePer ?? 1,
      cost: v.cost ?? 0,
      onShelf: v.onShelf ?? true,
    })
    for (const b of normaliseBarcodes(v.barcodes, v.sku)) {
      noRepeat(codes, b)
      codeRows.push({ id: newId(), merchantId, variantId: id, code: b.code, kind: b.kind })
    }
  }
  assertDistinctOptions(options, siblings, rows.map((r) => ({ sku: r.sku, optionValues: r.optionValues as Record<string, string> })))
  await assertPlusFree(tx, merchantId, codeRows, [])
  try {
    if (rows.length) await tx.insert(variants).values(rows)
    if (codeRows.length) await tx.insert(barcodes).values(codeRows)
  } catch (e) {
    translateUnique(e)
  }
}

export async function createProduct(tx: Tx, actor: Actor, input: ProductInput): Promise<ProductWithVariants> {
  if (!input.name.trim()) throw invalid('invalid_name', 'product name must not be empty')
  if (input.variants.length === 0) throw invalid('no_variants', 'a product needs at least one variant')
  await assertCategory(tx, actor.merchantId, input.categoryId)
  await assertTaxCategory(tx, actor.merchantId, input.taxCategoryId)
  const id = newId()
  const options = cleanOptions(input.options ?? [])
  await tx.insert(products).values({
    id,
    merchantId: actor.merchantId,
    name: input.name.trim(),
    nameEn: cleanNameEn(input.nameEn) ?? null,
    description: input.description ?? null,
    categoryId: input.categoryId ?? null,
    taxCategoryId: input.taxCategoryId,
    unit: input.unit ?? 'piece',
    options,
  })
  await insertVariants(tx, actor.merchantId, id, input.variants, options)
  await recordAudit(tx, actor, { action: 'product.created', entityType: 'product', entityId: id, details: { name: input.name, skus: input.variants.map((v) => v.sku) } })
  return getProduct(tx, actor.merchantId, id)
}

export async function getProducts(tx: Tx, merchantId: string, ids: string[]): Promise<ProductWithVariants[]> {
  if (ids.length === 0) return []
  const ps = await tx.select().from(products).where(and(eq(products.merchantId, merchantId), inArray(products.id, ids)))
  const vs = await tx.select().from(variants).where(and(eq(variants.merchantId, merchantId), inArray(variants.productId, ids))).orderBy(asc(variants.sku))
  const bs = vs.length
    ? await tx
        .select({ variantId: barcodes.variantId, code: barcodes.code, kind: barcodes.kind })
        .from(barcodes)
        .where(inArray(barcodes.variantId, vs.map((v) => v.id)))
        .orderBy(asc(barcodes.createdAt), asc(barcodes.code))
    : []
  const byProduct = new Map(ps.map((p) => [p.id, { ...p, variants: [] as ProductWithVariants['variants'] }]))
  for (const v of vs) {
    const p = byProduct.get(v.productId)
    if (!p) continue
    p.variants.push({
      ...v,
      barcodes: bs.filter((b) => b.variantId === v.id).map(({ code, kind }) => ({ code, kind })),
      effectiveTaxCategoryId: v.taxCategoryId ?? p.taxCategoryId,
      effectiveUnit: v.unit ?? p.unit,
    })
  }
  return ids.map((id) => byProduct.get(id)).filter((p): p is ProductWithVariants => p !== undefined)
}

export async function getProduct(tx: Tx, merchantId: string, id: string): Promise<ProductWithVariants> {
  const [p] = await getProducts(tx, merchantId, [id])
  if (!p) throw notFound('product', id)
  return p
}

export interface ProductChanges {
  name?: string
  nameEn?: string | null
  description?: string | null
  categoryId?: string | null
  taxCategoryId?: string
  options?: string[]
  status?: 'active' | 'archived'
}

export async function updateProduct(tx: Tx, actor: Actor, id: string, changes: ProductChanges): Promise<ProductWithVariants> {
  const before = await getProduct(tx, actor.merchantId, id)
  if (changes.name !== undefined && !changes.name.trim()) throw invalid('invalid_name', 'product name must not be empty')
  if (changes.name !== undefined) changes = { ...changes, name: changes.name.trim() }
  if (changes.nameEn !== undefined) changes = { ...changes, nameEn: cleanNameEn(changes.nameEn) }
  if (changes.categoryId !== undefined) await assertCategory(tx, actor.merchantId, changes.categoryId)
  if (changes.taxCategoryId !== undefined) await assertTaxCategory(tx, actor.merchantId, changes.taxCategoryId)
  await tx.update(products).set({ ...changes, updatedAt: new Date() }).where(eq(products.id, id))
  const details: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(changes)) {
    const old = (before as unknown as Record<string, unknown>)[k]
    if (JSON.stringify(old) !== JSON.stringify(v)) details[k] = { from: old, to: v }
  }
  const action = changes.status === 'archived' && before.status !== 'archived' ? 'product.archived' : 'product.updated'
  await recordAudit(tx, actor, { action, entityType: 'product', entityId: id, details })
  return getProduct(tx, actor.merchantId, id)
}

/** Products are archived, not deleted: sales and stock history keep pointing at them. */
export const archiveProduct = (tx: Tx, actor: Actor, id: string) => updateProduct(tx, actor, id, { status: 'archived' })

export async function addVariant(tx: Tx, actor: Actor, productId: string, input: VariantInput): Promise<ProductWithVariants> {
  // The product row locked: two variants added at once see each other's options.
  await lockProduct(tx, actor.merchantId, productId)
  const p = await getProduct(tx, actor.merchantId, productId)
  await insertVariants(tx, actor.merchantId, productId, [input], p.options, p.variants)
  await recordAudit(tx, actor, { action: 'variant.created', entityType: 'product', entityId: productId, details: { sku: input.sku, price: input.price } })
  return getProduct(tx, actor.merchantId, productId)
}

export interface VariantChanges {
  sku?: string
  optionValues?: Record<string, string>
  /** null goes back to the product's tax category. */
  taxCategoryId?: string | null
  /** null goes back to the product's unit; the effective unit cannot change once the variant has stock or sales. */
  unit?: ProductUnit | null
  price?: number
  pricePer?: number
  cost?: number
  onShelf?: boolean
  /** Replaces the variant's barcodes. */
  barcodes?: (BarcodeInput | string)[]
}

/** A variant; with `lock`, its row is held FOR UPDATE until the transaction ends (see updateVariant). */
export async function getVariant(tx: Tx, merchantId: string, id: string, opts: { lock?: boolean } = {}): Promise<Variant> {
  const q = tx.select().from(variants).where(and(eq(variants.merchantId, merchantId), eq(variants.id, id)))
  const [v] = opts.lock ? await q.for('update') : await q
  if (!v) throw notFound('variant', id)
  return v
}

/** Changes a variant; a change of price, cost, pricePer or tax category is recorded as a price change with the old and new values. */
export async function updateVariant(tx: Tx, actor: Actor, id: string, changes: VariantChanges): Promise<Variant> {
  let before = await getVariant(tx, actor.merchantId, id)
  if (changes.optionValues !== undefined) changes = { ...changes, optionValues: cleanOptionValues(changes.optionValues) }
  const [product] = await tx.select({ options: products.options, unit: products.unit, taxCategoryId: products.taxCategoryId }).from(products).where(eq(products.id, before.productId))
  checkVariant({ sku: changes.sku ?? before.sku, price: changes.price ?? before.price, cost: changes.cost, pricePer: changes.pricePer, optionValues: changes.optionValues, unit: changes.unit }, product!.options)
  if (changes.optionValues !== undefined) {
    await lockProduct(tx, actor.merchantId, before.productId)
    const siblings = await tx.select().from(variants).where(and(eq(variants.productId, before.productId), ne(variants.id, id)))
    assertDistinctOptions(product!.options, siblings, [{ sku: changes.sku ?? before.sku, optionValues: changes.optionValues ?? {} }])
  }
  if (changes.taxCategoryId) await assertTaxCategory(tx, actor.merchantId, changes.taxCategoryId)
  if (changes.unit !== undefined) {
    // Locked before the check: a sale or stock movement holds the variant from the moment it reads the unit (key
    // share, see lookupSellables), so this waits for those in flight and then sees their lines, and later ones wait
    // for this change and count in the new unit. Also when the unit named is the one read: the row read may since
    // have been given another unit, which writing this one would change back unchecked.
    before = await getVariant(tx, actor.merchantId, id, { lock: true })
    const from = before.unit ?? product!.unit
    const to = changes.unit ?? product!.unit
    if (from !== to && (await variantInUse(tx, actor.merchantId, id))) {
      throw conflict('unit_in_use', `the unit of ${before.sku} cannot change from ${from} to ${to}: it has stock or sales counted in ${from}`, { sku: before.sku, unit: from })
    }
  }
  const { barcodes: codes, ...fields } = changes
  let after: Variant
  try {
    ;[after] = (await tx.update(variants).set({ ...fields, updatedAt: new Date() }).where(eq(variants.id, id)).returning()) as [Variant]
    if (codes) {
      const list = normaliseBarcodes(codes, after.sku)
      const seen = new Set<string>()
      for (const b of list) noRepeat(seen, b)
      await assertPlusFree(tx, actor.merchantId, list, [id])
      await tx.delete(barcodes).where(eq(barcodes.variantId, id))
      if (list.length) await tx.insert(barcodes).values(list.map((b) => ({ id: newId(), merchantId: actor.merchantId, variantId: id, ...b })))
    }
  } catch (e) {
    translateUnique(e)
  }
  const details: Record<string, unknown> = {}
  for (const k of ['sku', 'price', 'pricePer', 'cost', 'onShelf', 'taxCategoryId', 'unit'] as const) {
    if (changes[k] !== undefined && changes[k] !== before[k]) details[k] = { from: before[k], to: changes[k] }
  }
  if (codes) details.barcodes = 'replaced'
  // What the customer pays or the margin: price, cost, the quantity a price is per, and the tax category in force.
  const taxInForce = (own: string | null) => own ?? product!.taxCategoryId
  const taxChanged = changes.taxCategoryId !== undefined && taxInForce(changes.taxCategoryId) !== taxInForce(before.taxCategoryId)
  const priceChanged = details.price !== undefined || details.cost !== undefined || details.pricePer !== undefined || taxChanged
  await recordAudit(tx, actor, { action: priceChanged ? 'variant.price_changed' : 'variant.updated', entityType: 'variant', entityId: id, details: { ...details, sku: after!.sku } })
  return after!
}

/** Ids of a category and all categories below it. */
export async function categoryWithDescendants(tx: Tx, merchantId: string, categoryId: string): Promise<string[]> {
  const r = await tx.execute<{ id: string }>(sql`
    with recursive tree as (
      select id from categories where merchant_id = ${merchantId} and id = ${categoryId}
      union all
      select c.id from categories c join tree t on c.parent_id = t.id where c.merchant_id = ${merchantId}
    ) select id from tree`)
  return r.rows.map((x) => x.id)
}

/** A category and all its ancestors, nearest first. */
export async function categoryAncestry(tx: Tx, merchantId: string, categoryIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  if (categoryIds.length === 0) return out
  const all = await tx.select({ id: categories.id, parentId: categories.parentId }).from(categories).where(eq(categories.merchantId, merchantId))
  const parent = new Map(all.map((c) => [c.id, c.parentId]))
  for (const id of categoryIds) {
    const chain: string[] = []
    let cur: string | null | undefined = id
    while (cur && !chain.includes(cur)) {
      chain.push(cur)
      cur = parent.get(cur)
    }
    out.set(id, chain)
  }
  return out
}

/** Whether `sku` is a well-formed SKU (the rule createProduct and updateVariant apply). */
export const isValidSku = (sku: string) => SKU.test(sku)

/**
 * updateProduct for callers that also change the option names: the names must be distinct and non-empty, and an
 * option that some variant still has a value for cannot be dropped.
 */
export async function editProduct(tx: Tx, actor: Actor, id: string, changes: ProductChanges): Promise<ProductWithVariants> {
  if (changes.options !== undefined) {
    const options = cleanOptions(changes.options)
    // Locked as adding or changing a variant locks it: their option values are checked against what this leaves.
    await lockProduct(tx, actor.merchantId, id)
    const current = await getProduct(tx, actor.merchantId, id)
    const used = new Set(current.variants.flatMap((v) => Object.keys(v.optionValues)))
    const dropped = [...used].filter((o) => !options.includes(o))
    if (dropped.length) throw invalid('option_in_use', `variants still have values for option ${dropped.map((o) => `"${o}"`).join(', ')}`, { options: dropped })
    changes = { ...changes, options }
  }
  return updateProduct(tx, actor, id, changes)
}
