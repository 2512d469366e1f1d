// The catalog: categories, tax categories, products with their variants and barcodes, search, the till's code
// lookup, and bulk import/export of the catalog spreadsheet.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { uuid } from '../schemas.ts'
import type { Context } from 'hono'
import { unsupportedMediaType } from '../errors.ts'
import { categoryTree, createCategory, deleteCategory, getCategory, listCategories, updateCategory, type CategoryEntry, type CategoryNode } from '../../core/catalog/categories.ts'
import { MEDIA_TYPES, readCatalogFile, writeCatalogFile, type CatalogFormat } from '../../core/catalog/catalog-file.ts'
import { exportCatalog, importCatalog } from '../../core/catalog/import-export.ts'
import { lookupSellables, type ItemRef } from '../../core/catalog/lookup.ts'
import { addVariant, createProduct, getProduct, type ProductWithVariants } from '../../core/catalog/products.ts'
import { searchProducts } from '../../core/catalog/search.ts'
import { typedDigits } from '../../core/catalog/barcodes.ts'
import { createTaxCategory, findTaxCategoryByCode, listTaxCategories, type TaxCategory } from '../../core/catalog/tax-categories.ts'
import type { Tx } from '../../db/client.ts'
import { getSettings } from '../../core/merchants/settings.ts'
import { businessDate } from '../../lib/time.ts'
import { badRequest, invalid, isDomainError, notFound } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody, page, PageQuery } from '../route.ts'
import { actOrHold } from '../../core/staff/approvals.ts'
import { held, HeldResponse } from './approvals.ts'
import { snapshot } from '../snapshot.ts'

const tags = ['Catalog']
const minor = (description = 'Minor units (fen/cents)') => z.number().int().min(0).openapi({ description })
const iso = (d: Date) => d.toISOString()

// ─── Schemas ────────────────────────────────────────────────────────────────────────────────────────────────────

const Unit = z.enum(['piece', 'g', 'ml', 'cm']).openapi({ description: 'Base unit quantities are counted in: pieces, or grams/millilitres/centimetres for goods sold by measure' })
const BarcodeKind = z.enum(['ean13', 'upca', 'ean8', 'internal', 'scale_plu'])

export const BarcodeSchema = z.object({ code: z.string(), kind: BarcodeKind }).openapi('Barcode')
export const VariantSchema = z
  .object({
    id: uuid(),
    productId: uuid(),
    sku: z.string(),
    optionValues: z.record(z.string(), z.string()),
    taxCategoryId: uuid().nullable().openapi({ description: "The variant's own tax category; null when it inherits the product's" }),
    effectiveTaxCategoryId: uuid().openapi({ description: "The tax category the variant is sold under: its own, else the product's" }),
    unit: Unit.nullable().openapi({ description: "The variant's own unit; null when it inherits the product's" }),
    effectiveUnit: Unit.openapi({ description: "The unit the variant is sold and stocked in (its own, else the product's); price, cost and pricePer are in this unit" }),
    price: minor('Price in minor units for `pricePer` base units'),
    pricePer: z.number().int().openapi({ description: 'Base units the price is for: 1, or 1000 for a price per kg of goods sold in g' }),
    cost: minor('Cost in minor units for `pricePer` base units'),
    onShelf: z.boolean(),
    barcodes: z.array(BarcodeSchema),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Variant')
export const ProductSchema = z
  .object({
    id: uuid(),
    name: z.string(),
    nameEn: z.string().nullable(),
    description: z.string().nullable(),
    categoryId: uuid().nullable(),
    taxCategoryId: uuid().openapi({ description: 'The tax category of the variants that have none of their own' }),
    unit: Unit.openapi({ description: 'The unit of the variants that have none of their own' }),
    options: z.array(z.string()),
    status: z.enum(['active', 'archived']),
    variants: z.array(VariantSchema),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Product')

const CategoryFields = {
  id: uuid(),
  parentId: uuid().nullable(),
  name: z.string(),
  code: z.string().nullable(),
  sortOrder: z.number().int(),
  path: z.string().openapi({ example: 'Food/Fruit' }),
  depth: z.number().int(),
  productCount: z.number().int().openapi({ description: 'Products directly in this category, archived ones included' }),
  childCount: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
}
export const CategorySchema = z.object(CategoryFields).openapi('Category')
export const CategoryNodeSchema: z.ZodType<unknown> = z
  .object({
    ...CategoryFields,
    get children(): z.ZodArray<typeof CategoryNodeSchema> {
      return z.array(CategoryNodeSchema)
    },
  })
  .openapi('CategoryNode')

export const TaxCategorySchema = z
  .object({ id: uuid(), code: z.string(), name: z.string(), rateBp: z.number().int().openapi({ description: 'Rate in basis points (1300 = 13 %)' }), createdAt: z.string(), updatedAt: z.string() })
  .openapi('TaxCategory')

const SellableSchema = z
  .object({
    variantId: uuid(),
    productId: uuid(),
    sku: z.string(),
    name: z.string(),
    unit: Unit.openapi({ description: "The effective unit: the variant's own, else the product's" }),
    price: minor(),
    pricePer: z.number().int(),
    cost: minor(),
    onShelf: z.boolean(),
    status: z.enum(['active', 'archived']),
    taxCategoryId: uuid().openapi({ description: "The effective tax category: the variant's own, else the product's" }),
    taxRateBp: z.number().int(),
    categoryId: uuid().nullable(),
    matchedBy: z.enum(['barcode', 'scale_label', 'sku']),
    label: z
      .object({ quantity: z.number().int().optional(), amount: z.number().int().optional() })
      .optional()
      .openapi({ description: 'From an in-store scale label: the weighed quantity in base units, or the price printed on it' }),
  })
  .openapi('Sellable')

const ImportErrorSchema = z.object({
  line: z.number().int().openapi({ description: 'Line in the file (row in the worksheet); the header is line 1' }),
  sku: z.string().nullable(),
  field: z.string().nullable(),
  value: z.string().nullable(),
  code: z.string(),
  message: z.string(),
})
export const ImportReportSchema = z
  .object({
    dryRun: z.boolean(),
    applied: z.boolean(),
    rows: z.number().int(),
    errorCount: z.number().int(),
    errors: z.array(ImportErrorSchema),
    warnings: z.array(z.string()),
    summary: z.object({
      productsCreated: z.number().int(),
      productsUpdated: z.number().int(),
      productsUnchanged: z.number().int(),
      variantsCreated: z.number().int(),
      variantsUpdated: z.number().int(),
      variantsUnchanged: z.number().int(),
      categoriesCreated: z.array(z.string()),
    }),
  })
  .openapi('CatalogImportReport')

const BarcodeInput = z.union([z.string().min(1).max(64), z.object({ code: z.string().min(1).max(64), kind: BarcodeKind.optional() }).strict()]).openapi({
  description: 'A code, or {code, kind}; 13/12/8-digit codes must carry a valid EAN-13/UPC-A/EAN-8 check digit, other codes are internal',
})
const OptionValues = z.record(z.string().min(1).max(50), z.string().min(1).max(100))
const VariantTaxId = uuid().nullable().openapi({ description: "The variant's own tax category (one of the merchant's); null inherits the product's" })
const VariantTaxCode = z.string().min(1).max(64).openapi({ description: 'Instead of taxCategoryId: the code of the tax category, e.g. "reduced"' })
const VariantUnit = Unit.nullable().openapi({ description: "The variant's own unit, e.g. g for loose goods of a product sold by the piece; null inherits the product's" })
const oneVariantTaxRef = (v: { taxCategoryId?: string | null; taxCategoryCode?: string }) => v.taxCategoryId === undefined || v.taxCategoryCode === undefined
const VariantInput = z
  .object({
    sku: z.string().min(1).max(64),
    optionValues: OptionValues.optional(),
    taxCategoryId: VariantTaxId.optional(),
    taxCategoryCode: VariantTaxCode.optional(),
    unit: VariantUnit.optional(),
    price: minor('Price in minor units (fen) for `pricePer` base units of the effective unit'),
    pricePer: z.number().int().min(1).max(1_000_000).optional(),
    cost: minor('Cost in minor units for `pricePer` base units').optional(),
    onShelf: z.boolean().optional(),
    barcodes: z.array(BarcodeInput).max(50).optional(),
  })
  .strict()
  .refine(oneVariantTaxRef, { message: 'give taxCategoryId or taxCategoryCode, not both', path: ['taxCategoryId'] })
  .openapi('VariantInput')

const taxRef = (t: { taxCategoryId?: string; taxCategoryCode?: string }) => (t.taxCategoryId === undefined) !== (t.taxCategoryCode === undefined)
const ProductInput = z
  .object({
    name: z.string().min(1).max(200),
    nameEn: z.string().max(200).nullable().optional(),
    description: z.string().max(5000).nullable().optional(),
    categoryId: uuid().nullable().optional(),
    taxCategoryId: uuid().optional(),
    taxCategoryCode: z.string().min(1).max(64).optional().openapi({ description: 'Instead of taxCategoryId: the code of the tax category, e.g. "standard"' }),
    unit: Unit.default('piece'),
    options: z.array(z.string().min(1).max(50)).max(10).default([]).openapi({ description: 'Names of the options variants differ by, e.g. ["Size", "Colour"]' }),
    variants: z.array(VariantInput).min(1).max(500),
  })
  .strict()
  .refine(taxRef, { message: 'give either taxCategoryId or taxCategoryCode', path: ['taxCategoryId'] })
  .openapi('ProductInput')

const ProductPatch = z
  .object({
    name: z.string().min(1).max(200),
    nameEn: z.string().max(200).nullable(),
    description: z.string().max(5000).nullable(),
    categoryId: uuid().nullable(),
    taxCategoryId: uuid(),
    taxCategoryCode: z.string().min(1).max(64),
    options: z.array(z.string().min(1).max(50)).max(10),
    status: z.enum(['active', 'archived']),
  })
  .partial()
  .strict()
  .refine((p) => p.taxCategoryId === undefined || p.taxCategoryCode === undefined, { message: 'give taxCategoryId or taxCategoryCode, not both', path: ['taxCategoryId'] })

const VariantPatch = z
  .object({
    sku: z.string().min(1).max(64),
    optionValues: OptionValues,
    taxCategoryId: VariantTaxId,
    taxCategoryCode: VariantTaxCode,
    unit: VariantUnit.openapi({ description: "The variant's own unit; null inherits the product's. The effective unit cannot change once the variant has stock or sales (409 `unit_in_use`)" }),
    price: minor(),
    pricePer: z.number().int().min(1).max(1_000_000),
    cost: minor(),
    onShelf: z.boolean(),
    barcodes: z.array(BarcodeInput).max(50).openapi({ description: "Replaces the variant's barcodes" }),
  })
  .partial()
  .strict()
  .refine(oneVariantTaxRef, { message: 'give taxCategoryId or taxCategoryCode, not both', path: ['taxCategoryId'] })

// ─── Routes ─────────────────────────────────────────────────────────────────────────────────────────────────────

const listCategoriesRoute = defineRoute({
  method: 'get',
  path: '/api/v1/categories',
  tags,
  summary: 'All categories, flat: parents before children, each with its path',
  access: 'catalog.read',
  responses: { 200: json(z.object({ items: z.array(CategorySchema) })) },
})

const categoryTreeRoute = defineRoute({
  method: 'get',
  path: '/api/v1/categories/tree',
  tags,
  summary: 'All categories as a tree',
  access: 'catalog.read',
  responses: { 200: json(z.object({ items: z.array(CategoryNodeSchema) })) },
})

const getCategoryRoute = defineRoute({
  method: 'get',
  path: '/api/v1/categories/{id}',
  tags,
  summary: 'One category',
  access: 'catalog.read',
  request: { params: IdParam },
  responses: { 200: json(CategorySchema) },
})

const createCategoryRoute = defineRoute({
  method: 'post',
  path: '/api/v1/categories',
  tags,
  summary: 'Create a category',
  description: 'Names are unique among siblings (ignoring case) and cannot contain "/", which separates the levels of a category path.',
  access: 'catalog.manage',
  request: {
    body: jsonBody(
      z
        .object({ name: z.string().min(1).max(100), code: z.string().min(1).max(32).nullable().optional(), parentId: uuid().nullable().optional(), sortOrder: z.number().int().min(-1_000_000).max(1_000_000).optional() })
        .strict(),
    ),
  },
  responses: { 201: json(CategorySchema, 'Created') },
})

const patchCategoryRoute = defineRoute({
  method: 'patch',
  path: '/api/v1/categories/{id}',
  tags,
  summary: 'Rename or move a category',
  description: 'A move under the category itself or one of its subcategories is refused (422 `category_cycle`).',
  access: 'catalog.manage',
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({ name: z.string().min(1).max(100), code: z.string().min(1).max(32).nullable(), parentId: uuid().nullable(), sortOrder: z.number().int().min(-1_000_000).max(1_000_000) })
        .partial()
        .strict(),
    ),
  },
  responses: { 200: json(CategorySchema) },
})

const deleteCategoryRoute = defineRoute({
  method: 'delete',
  path: '/api/v1/categories/{id}',
  tags,
  summary: 'Delete an empty category',
  description: 'Refused with 409 `category_has_children` or `category_has_products` unless the category is empty.',
  access: 'catalog.manage',
  request: { params: IdParam },
  responses: { 200: json(CategorySchema, 'The deleted category') },
})

const listTaxRoute = defineRoute({
  method: 'get',
  path: '/api/v1/tax-categories',
  tags,
  summary: 'Tax categories',
  access: 'catalog.read',
  responses: { 200: json(z.object({ items: z.array(TaxCategorySchema) })) },
})

const createTaxRoute = defineRoute({
  method: 'post',
  path: '/api/v1/tax-categories',
  tags,
  summary: 'Create a tax category',
  access: 'catalog.manage',
  request: {
    body: jsonBody(
      z
        .object({
          code: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a code has 1–64 letters, digits or - . _'),
          name: z.string().min(1).max(100),
          rateBp: z.number().int().min(0).max(10_000).openapi({ description: 'Basis points (1300 = 13 %)' }),
        })
        .strict(),
    ),
  },
  responses: { 201: json(TaxCategorySchema, 'Created') },
})

const patchTaxRoute = defineRoute({
  method: 'patch',
  path: '/api/v1/tax-categories/{id}',
  tags,
  summary: 'Rename a tax category or change its rate',
  description: "Under the merchant's price-change approval rule, a change of rate by someone who may not decide approvals is held for a manager (202).",
  access: 'catalog.manage',
  request: { params: IdParam, body: jsonBody(z.object({ name: z.string().min(1).max(100), rateBp: z.number().int().min(0).max(10_000) }).partial().strict()) },
  responses: { 200: json(TaxCategorySchema), 202: HeldResponse },
})

const searchRoute = defineRoute({
  method: 'get',
  path: '/api/v1/products',
  tags,
  summary: 'Search products',
  description:
    '`q` matches part of the name or English name (ignoring case), part of a SKU, or a whole barcode. `categoryId` includes its subcategories. Pages are in a stable order; pass `nextCursor` as `cursor` for the next one.',
  access: 'catalog.read',
  request: {
    query: PageQuery.extend({
      q: z.string().max(100).optional(),
      categoryId: uuid().optional(),
      status: z.enum(['active', 'archived', 'all']).default('active'),
      onShelf: z.enum(['true', 'false']).optional().openapi({ description: 'Only products with a variant on (true) or off (false) the shelf' }),
    }),
  },
  responses: { 200: json(page(ProductSchema)) },
})

const createProductRoute = defineRoute({
  method: 'post',
  path: '/api/v1/products',
  tags,
  summary: 'Create a product with its variants and barcodes',
  description:
    "The product's tax category and unit are the defaults of its variants; a variant may name its own (`taxCategoryId` or `taxCategoryCode`, `unit`). A tax category that is not the merchant's is refused (422 `unknown_tax_category`). Two variants of a product with options may not have the same value for every option (422 `duplicate_variant_options`): the till could not tell them apart.",
  access: 'catalog.manage',
  request: { body: jsonBody(ProductInput) },
  responses: { 201: json(ProductSchema, 'Created') },
})

const getProductRoute = defineRoute({
  method: 'get',
  path: '/api/v1/products/{id}',
  tags,
  summary: 'One product with its variants and barcodes',
  access: 'catalog.read',
  request: { params: IdParam },
  responses: { 200: json(ProductSchema) },
})

const patchProductRoute = defineRoute({
  method: 'patch',
  path: '/api/v1/products/{id}',
  tags,
  summary: 'Change a product (not its unit)',
  description:
    'An option some variant still has a value for cannot be dropped from `options`. Archiving (status "archived") is held for approval (202) when the merchant requires approval of product deletion and the caller may not decide approvals; so is a change of tax category when it requires approval of price changes.',
  access: 'catalog.manage',
  request: { params: IdParam, body: jsonBody(ProductPatch) },
  responses: { 200: json(ProductSchema), 202: HeldResponse },
})

const archiveProductRoute = defineRoute({
  method: 'delete',
  path: '/api/v1/products/{id}',
  tags,
  summary: 'Archive a product',
  description:
    'Products are never deleted: sales and stock history keep pointing at them. PATCH status "active" brings one back. Held for approval (202) when the merchant requires approval of product deletion and the caller may not decide approvals.',
  access: 'catalog.manage',
  request: { params: IdParam },
  responses: { 200: json(ProductSchema), 202: HeldResponse },
})

const addVariantRoute = defineRoute({
  method: 'post',
  path: '/api/v1/products/{id}/variants',
  tags,
  summary: 'Add a variant to a product',
  description: "Without a tax category or unit of its own the variant takes the product's. Its option values must differ from every other variant's (422 `duplicate_variant_options`).",
  access: 'catalog.manage',
  request: { params: IdParam, body: jsonBody(VariantInput) },
  responses: { 201: json(ProductSchema, 'The product with its new variant') },
})

const patchVariantRoute = defineRoute({
  method: 'patch',
  path: '/api/v1/variants/{id}',
  tags,
  summary: 'Change a variant: price, cost, SKU, shelf status, barcodes, own tax category and unit',
  description:
    'taxCategoryId (or taxCategoryCode) and unit set the variant\'s own values; null makes it inherit the product\'s again. Price and cost changes are recorded in the audit log with the old and new values. A change of price, cost, pricePer or the tax category in force is held for approval (202, the whole request) when the merchant requires approval of price changes and the caller may not decide approvals.',
  access: 'catalog.manage',
  request: { params: IdParam, body: jsonBody(VariantPatch) },
  responses: { 200: json(VariantSchema), 202: HeldResponse },
})

const lookupRoute = defineRoute({
  method: 'get',
  path: '/api/v1/variants/lookup',
  tags,
  summary: 'Resolve a scanned or typed code to what it sells',
  description: 'Tries the code as a barcode (including an in-store scale label, or a scale item code typed with or without its zeros), then as a SKU; 404 when nothing matches.',
  access: 'catalog.read',
  request: { query: z.object({ code: z.string().trim().min(1).max(64) }) },
  responses: { 200: json(SellableSchema), 404: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'Nothing matches') },
})

const binary = z.string().openapi({ format: 'binary' })
const IMPORT_LIMIT = 20 * 1024 * 1024

const importRoute = defineRoute({
  method: 'post',
  path: '/api/v1/catalog/import',
  tags,
  summary: 'Import the catalog from a CSV or XLSX file',
  description: [
    'The body is the file itself. One row per variant under named columns (any order, any case): product_key, product_name, product_name_en, category (a path like Food/Fruit), tax_category (code), unit (piece, g, ml, cm; or kg, 斤, 两, L, m and their Chinese names, read as g, ml or cm with price_per the size of that unit), sku, options (Size=L;Colour=Red, in the product\'s order; Size= names an option the variant has no value for), price and cost (decimal text like 12.34 or 1,234.50; in a semicolon-separated CSV, as European Excel writes it, 12,34 or 1.234,50), price_per, barcodes (";"-separated, optionally kind:code), on_shelf, and the variant\'s own variant_tax_category (code) and variant_unit.',
    'variant_tax_category and variant_unit override the product\'s tax category and unit for that variant; where the file has the column, a blank cell means the variant inherits the product\'s (an export re-imports to the same catalog), and a file without the column leaves them as they are. The unit of a variant with stock or sales cannot change.',
    'Rows with the same product_key, or else the same product_name, form one product. A row whose SKU exists updates that variant and its product; a blank optional cell keeps the current value. Missing categories are created.',
    'A dry run checks every row and reports what the import would do, writing nothing. An import with any bad row answers 422 with the same report in `error.details` and writes nothing; otherwise everything is written at once.',
    "When the merchant requires approval of price changes, a file that changes a price, cost, price_per or tax category answers 403 `price_change_approval_required` (the SKUs in `error.details`) for a caller who may not decide approvals, and writes nothing: a manager applies it, or the caller sends it with a manager's override. Its dry run says so in `warnings`.",
  ].join('\n\n'),
  access: 'catalog.manage',
  bodyLimit: IMPORT_LIMIT,
  request: {
    query: z.object({
      format: z.enum(['csv', 'xlsx']).optional().openapi({ description: 'Default: from the Content-Type' }),
      dryRun: z.enum(['true', 'false', '1', '0']).default('false'),
    }),
    body: { content: { [MEDIA_TYPES.csv]: { schema: z.string() }, [MEDIA_TYPES.xlsx]: { schema: binary } } },
  },
  responses: { 200: json(ImportReportSchema, 'The report (a dry run, or an import that was written)') },
})

const exportRoute = defineRoute({
  method: 'get',
  path: '/api/v1/catalog/export',
  tags,
  summary: 'Export the active catalog as CSV or XLSX, in the import layout',
  access: 'catalog.manage',
  request: { query: z.object({ format: z.enum(['csv', 'xlsx']).default('csv') }) },
  responses: { 200: { description: 'The file', content: { [MEDIA_TYPES.csv]: { schema: z.string() }, [MEDIA_TYPES.xlsx]: { schema: binary } } } },
})

// ─── Shapes ─────────────────────────────────────────────────────────────────────────────────────────────────────

const pickVariant = (v: ProductWithVariants['variants'][number]) => ({
  id: v.id,
  productId: v.productId,
  sku: v.sku,
  optionValues: v.optionValues,
  taxCategoryId: v.taxCategoryId,
  effectiveTaxCategoryId: v.effectiveTaxCategoryId,
  unit: v.unit,
  effectiveUnit: v.effectiveUnit,
  price: v.price,
  pricePer: v.pricePer,
  cost: v.cost,
  onShelf: v.onShelf,
  barcodes: v.barcodes.map((b) => ({ code: b.code, kind: b.kind })),
  createdAt: iso(v.createdAt),
  updatedAt: iso(v.updatedAt),
})

const pickProduct = (p: ProductWithVariants) => ({
  id: p.id,
  name: p.name,
  nameEn: p.nameEn,
  description: p.description,
  categoryId: p.categoryId,
  taxCategoryId: p.taxCategoryId,
  unit: p.unit,
  options: p.options,
  status: p.status,
  variants: p.variants.map(pickVariant),
  createdAt: iso(p.createdAt),
  updatedAt: iso(p.updatedAt),
})

const pickCategory = (c: CategoryEntry) => ({
  id: c.id,
  parentId: c.parentId,
  name: c.name,
  code: c.code,
  sortOrder: c.sortOrder,
  path: c.path,
  depth: c.depth,
  productCount: c.productCount,
  childCount: c.childCount,
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
})
type CategoryOut = ReturnType<typeof pickCategory> & { children: CategoryOut[] }
const pickNode = (n: CategoryNode): CategoryOut => ({ ...pickCategory(n), children: n.children.map(pickNode) })

const pickTax = (t: TaxCategory) => ({ id: t.id, code: t.code, name: t.name, rateBp: t.rateBp, createdAt: iso(t.createdAt), updatedAt: iso(t.updatedAt) })

async function taxCategoryIdOf(tx: Tx, merchantId: string, ref: { taxCategoryId?: string; taxCategoryCode?: string }): Promise<string | undefined> {
  if (ref.taxCategoryCode === undefined) return ref.taxCategoryId
  const t = await findTaxCategoryByCode(tx, merchantId, ref.taxCategoryCode)
  if (!t) throw invalid('unknown_tax_category', `no tax category has code ${ref.taxCategoryCode}`)
  return t.id
}

/** A variant body with its taxCategoryCode resolved to taxCategoryId (the merchant's tax categories, read once). */
async function variantTaxOf<V extends { taxCategoryId?: string | null; taxCategoryCode?: string }>(tx: Tx, merchantId: string, list: V[]): Promise<Omit<V, 'taxCategoryCode'>[]> {
  const byCode = list.some((v) => v.taxCategoryCode !== undefined) ? new Map((await listTaxCategories(tx, merchantId)).map((t) => [t.code, t.id])) : new Map<string, string>()
  return list.map(({ taxCategoryCode, ...v }) => {
    if (taxCategoryCode === undefined) return v
    const id = byCode.get(taxCategoryCode)
    if (!id) throw invalid('unknown_tax_category', `no tax category has code ${taxCategoryCode}`, { taxCategoryCode })
    return { ...v, taxCategoryId: id }
  })
}

/** The first ref that resolves, or undefined; lookupSellables refuses unknown refs, one at a time is how to try several. */
async function firstSellable(tx: Tx, merchantId: string, refs: ItemRef[], settings: Awaited<ReturnType<typeof getSettings>>) {
  for (const ref of refs) {
    try {
      const [sellable] = await lookupSellables(tx, merchantId, [ref], settings, { categoryChains: false })
      if (sellable) return { sellable, ref }
    } catch (e) {
      if (!(isDomainError(e) && e.code === 'unknown_item')) throw e
    }
  }
  return undefined
}

const CSV_TYPES = new Set([MEDIA_TYPES.csv, 'application/csv', 'text/plain', 'text/tab-separated-values'])
const XLSX_TYPES = new Set([MEDIA_TYPES.xlsx, 'application/octet-stream'])

/** The file format of an import: the `format` parameter, which the Content-Type must agree with, or the Content-Type. */
function importFormat(c: Context<AppEnv>, format: CatalogFormat | undefined): CatalogFormat {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  const fits = (f: CatalogFormat) => (f === 'csv' ? CSV_TYPES : XLSX_TYPES).has(type)
  const chosen = format ?? (fits('csv') ? 'csv' : fits('xlsx') ? 'xlsx' : undefined)
  if (!chosen || !fits(chosen)) {
    const expected = format ? MEDIA_TYPES[format] : `${MEDIA_TYPES.csv} or ${MEDIA_TYPES.xlsx}`
    throw unsupportedMediaType(expected, type)
  }
  return chosen
}

export function register(app: OpenAPIHono<AppEnv>) {
  // Categories (the static /tree before /{id}).
  app.openapi(listCategoriesRoute, async (c) => c.json({ items: (await listCategories(c.var.db, c.var.principal.merchantId)).map(pickCategory) }, 200))
  app.openapi(categoryTreeRoute, async (c) => c.json({ items: categoryTree(await listCategories(c.var.db, c.var.principal.merchantId)).map(pickNode) }, 200))
  app.openapi(getCategoryRoute, async (c) => c.json(pickCategory(await getCategory(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(createCategoryRoute, async (c) => c.json(pickCategory(await createCategory(c.var.db, c.var.principal, c.req.valid('json'))), 201))
  app.openapi(patchCategoryRoute, async (c) => c.json(pickCategory(await updateCategory(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'))), 200))
  app.openapi(deleteCategoryRoute, async (c) => c.json(pickCategory(await deleteCategory(c.var.db, c.var.principal, c.req.valid('param').id)), 200))

  // Tax categories.
  app.openapi(listTaxRoute, async (c) => c.json({ items: (await listTaxCategories(c.var.db, c.var.principal.merchantId)).map(pickTax) }, 200))
  app.openapi(createTaxRoute, async (c) => c.json(pickTax(await createTaxCategory(c.var.db, c.var.principal, c.req.valid('json'))), 201))
  app.openapi(patchTaxRoute, async (c) => {
    const r = await actOrHold(c.var.db, c.var.principal, 'tax_category.update', { taxCategoryId: c.req.valid('param').id, changes: c.req.valid('json') }, c.var.hub.clock())
    return r.held ? c.json(held(r.held), 202) : c.json(pickTax(r.result), 200)
  })

  // Products and variants.
  app.openapi(searchRoute, async (c) => {
    const q = c.req.valid('query')
    const r = await searchProducts(c.var.db, c.var.principal.merchantId, {
      q: q.q,
      categoryId: q.categoryId,
      status: q.status,
      onShelf: q.onShelf === undefined ? undefined : q.onShelf === 'true',
      limit: q.limit,
      cursor: q.cursor,
    })
    return c.json({ items: r.items.map(pickProduct), nextCursor: r.nextCursor }, 200)
  })
  app.openapi(createProductRoute, async (c) => {
    const { taxCategoryCode, taxCategoryId, variants, ...input } = c.req.valid('json')
    const m = c.var.principal.merchantId
    const taxId = (await taxCategoryIdOf(c.var.db, m, { taxCategoryId, taxCategoryCode }))!
    return c.json(pickProduct(await createProduct(c.var.db, c.var.principal, { ...input, taxCategoryId: taxId, variants: await variantTaxOf(c.var.db, m, variants) })), 201)
  })
  app.openapi(getProductRoute, async (c) => c.json(pickProduct(await getProduct(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(patchProductRoute, async (c) => {
    const { taxCategoryCode, taxCategoryId, ...changes } = c.req.valid('json')
    const taxId = await taxCategoryIdOf(c.var.db, c.var.principal.merchantId, { taxCategoryId, taxCategoryCode })
    const payload = { productId: c.req.valid('param').id, changes: { ...changes, ...(taxId ? { taxCategoryId: taxId } : {}) } }
    const r = await actOrHold(c.var.db, c.var.principal, 'product.edit', payload, c.var.hub.clock())
    return r.held ? c.json(held(r.held), 202) : c.json(pickProduct(r.result), 200)
  })
  app.openapi(archiveProductRoute, async (c) => {
    const r = await actOrHold(c.var.db, c.var.principal, 'product.archive', { productId: c.req.valid('param').id }, c.var.hub.clock())
    return r.held ? c.json(held(r.held), 202) : c.json(pickProduct(r.result), 200)
  })
  app.openapi(addVariantRoute, async (c) => {
    const [input] = await variantTaxOf(c.var.db, c.var.principal.merchantId, [c.req.valid('json')])
    return c.json(pickProduct(await addVariant(c.var.db, c.var.principal, c.req.valid('param').id, input!)), 201)
  })
  app.openapi(patchVariantRoute, async (c) => {
    const [changes] = await variantTaxOf(c.var.db, c.var.principal.merchantId, [c.req.valid('json')])
    const r = await actOrHold(c.var.db, c.var.principal, 'variant.update', { variantId: c.req.valid('param').id, changes: changes! }, c.var.hub.clock())
    if (r.held) return c.json(held(r.held), 202)
    const v = r.result
    const product = await getProduct(c.var.db, c.var.principal.merchantId, v.productId)
    return c.json(pickVariant(product.variants.find((x) => x.id === v.id)!), 200)
  })
  app.openapi(lookupRoute, async (c) => {
    const { code } = c.req.valid('query')
    const m = c.var.principal.merchantId
    const settings = await getSettings(c.var.db, m)
    const found = await firstSellable(c.var.db, m, [{ barcode: typedDigits(code) }, { sku: code }], settings)
    if (!found) throw notFound('item', code)
    const { categoryChain: _, ...sellable } = found.sellable
    const matchedBy = found.ref.sku ? 'sku' : sellable.label ? 'scale_label' : 'barcode'
    return c.json({ ...sellable, matchedBy } as const, 200)
  })

  // Import and export.
  app.openapi(importRoute, async (c) => {
    const q = c.req.valid('query')
    const format = importFormat(c, q.format)
    const bytes = new Uint8Array(await c.req.arrayBuffer())
    if (bytes.byteLength === 0) throw badRequest('invalid_file', 'the request body is empty: send the file itself as the body')
    const sheet = await readCatalogFile(bytes, format)
    const dryRun = q.dryRun === 'true' || q.dryRun === '1'
    const report = await importCatalog(c.var.db, c.var.principal, sheet, { dryRun })
    if (!dryRun && !report.applied) {
      throw invalid('import_invalid', `${report.errorCount} problem${report.errorCount === 1 ? '' : 's'} in the file; nothing was imported`, report)
    }
    return c.json(report, 200)
  })
  app.openapi(exportRoute, async (c) => {
    const { format } = c.req.valid('query')
    const m = c.var.principal.merchantId
    // One snapshot, so a product changed during the export is either wholly old or wholly new in the file.
    const records = await snapshot(c, (tx) => exportCatalog(tx, m))
    const bytes = await writeCatalogFile(records, format)
    // Named after the merchant's own day.
    const day = businessDate(c.var.hub.clock(), (await getSettings(c.var.db, m)).timeZone).replaceAll('-', '')
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': format === 'csv' ? `${MEDIA_TYPES.csv}; charset=utf-8` : MEDIA_TYPES.xlsx,
      'Content-Disposition': `attachment; filename="catalog-${day}.${format}"`,
    })
  })
}
