// What a merchant sells: products and their variants (the sellable unit, with SKU, barcodes and prices),
// categories as a tree, and tax categories mapped to rates.
import { sql } from 'drizzle-orm'
import { boolean, check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, money, updatedAt } from '../../db/columns.ts'
import { merchants } from '../merchants/schema.ts'

/** A VAT category: rate in basis points (1300 = 13 %). */
export const taxCategories = pgTable(
  'tax_categories',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    code: text('code').notNull(),
    name: text('name').notNull(),
    rateBp: integer('rate_bp').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('tax_categories_code_key').on(t.merchantId, t.code), check('tax_categories_rate_check', sql`${t.rateBp} between 0 and 10000`)],
)

export const categories = pgTable(
  'categories',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    parentId: uuid('parent_id').references((): AnyPgColumn => categories.id),
    name: text('name').notNull(),
    code: text('code'),
    sortOrder: integer('sort_order').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('categories_parent_idx').on(t.merchantId, t.parentId),
    uniqueIndex('categories_code_key').on(t.merchantId, t.code).where(sql`${t.code} is not null`),
    // Sibling names are unique, ignoring case; roots (no parent) count as siblings too.
    uniqueIndex('categories_sibling_name_key').on(t.merchantId, sql`coalesce(${t.parentId}, '00000000-0000-0000-0000-000000000000'::uuid)`, sql`lower(${t.name})`),
  ],
)

export type UnitKind = 'piece' | 'weight' | 'volume' | 'length'

export const products = pgTable(
  'products',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    name: text('name').notNull(),
    nameEn: text('name_en'),
    description: text('description'),
    categoryId: uuid('category_id').references(() => categories.id),
    taxCategoryId: uuid('tax_category_id')
      .notNull()
      .references(() => taxCategories.id),
    /** How quantities are counted: 'piece', or weighed/measured in an integer base unit ('g', 'ml', 'cm'). */
    unit: text('unit').$type<'piece' | 'g' | 'ml' | 'cm'>().notNull().default('piece'),
    /** Names of the options variants differ by, e.g. ["Size", "Colour"]. */
    options: jsonb('options').$type<string[]>().notNull().default([]),
    status: text('status').$type<'active' | 'archived'>().notNull().default('active'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('products_merchant_idx').on(t.merchantId, t.status),
    index('products_category_idx').on(t.merchantId, t.categoryId),
    index('products_name_trgm').using('gin', sql`lower(${t.name}) gin_trgm_ops`),
    index('products_name_en_trgm').using('gin', sql`lower(${t.nameEn}) gin_trgm_ops`),
    check('products_unit_check', sql`${t.unit} in ('piece', 'g', 'ml', 'cm')`),
  ],
)

export const variants = pgTable(
  'variants',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id),
    sku: text('sku').notNull(),
    /** Option values, e.g. {"Size": "L", "Colour": "Red"}. */
    optionValues: jsonb('option_values').$type<Record<string, string>>().notNull().default({}),
    /**
     * The variant's own tax category and unit; null inherits the product's. The effective value everywhere a
     * variant is sold, stocked or exported is coalesce(variant, product) (the same merchant's, checked on write).
     */
    taxCategoryId: uuid('tax_category_id').references(() => taxCategories.id),
    unit: text('unit').$type<'piece' | 'g' | 'ml' | 'cm'>(),
    /** Price in minor units for `pricePer` base units of the effective unit (1 for pieces; 1000 for a per-kg price of goods sold in grams). */
    price: money('price').notNull(),
    pricePer: integer('price_per').notNull().default(1),
    /** Cost in minor units for `pricePer` base units. */
    cost: money('cost').notNull().default(0),
    onShelf: boolean('on_shelf').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('variants_sku_key').on(t.merchantId, t.sku),
    index('variants_product_idx').on(t.productId),
    index('variants_sku_trgm').using('gin', sql`lower(${t.sku}) gin_trgm_ops`),
    check('variants_price_check', sql`${t.price} >= 0 and ${t.cost} >= 0 and ${t.pricePer} > 0`),
    check('variants_unit_check', sql`${t.unit} in ('piece', 'g', 'ml', 'cm')`),
  ],
)

export type BarcodeKind = 'ean13' | 'upca' | 'ean8' | 'internal' | 'scale_plu'

export const barcodes = pgTable(
  'barcodes',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id, { onDelete: 'cascade' }),
    code: text('code').notNull(),
    kind: text('kind').$type<BarcodeKind>().notNull(),
    /**
     * A GTIN's 14-digit form (GS1: right-justified, zero-filled): a UPC-A and the EAN-13 a scanner reads from it
     * ("0" in front) are one GTIN, so one key. Null for other codes. See gtinKey in barcodes.ts.
     */
    gtin: text('gtin').generatedAlwaysAs(sql`case when kind in ('ean13', 'upca', 'ean8') then lpad(code, 14, '0') end`),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('barcodes_code_key').on(t.merchantId, t.code),
    uniqueIndex('barcodes_gtin_key').on(t.merchantId, t.gtin),
    index('barcodes_variant_idx').on(t.variantId),
  ],
)
