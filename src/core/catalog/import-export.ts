// Bulk catalog import and export in the spreadsheet layout of catalog-file.ts (one row per variant).
//
// Terms:
//   group   — the rows of one product: the same product_key, or without a key the same product_name.
//   upsert  — a row whose SKU exists updates that variant and its product; other rows create them.
//   blank   — an empty optional cell leaves an existing value as it is (and gives a new record its default). The
//             exception are the variant's own tax category and unit (variant_tax_category, variant_unit): where the
//             file has the column, a blank cell means "inherit the product's" (so an export re-imports to the same
//             catalog); a file without the column leaves them as they are.
//   plan    — what the file would do, worked out completely (every row checked, on its own and against the other
//             rows and the catalog) before anything is written; the apply writes the plan or nothing.
import { eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { conflict, forbidden } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { formatDecimal, MoneyError, parseMoney } from '../../lib/money.ts'
import { getSettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { priceChangeApproval } from '../staff/approvals.ts'
import { recordAudit } from '../staff/audit.ts'
import { auditLog } from '../staff/schema.ts'
import { barcodeKeys, checkBarcode, gtinKey, PLU_KEY_SQL, pluKey } from './barcodes.ts'
import { cleanCategoryName, listCategories, lockCategoryTree, PATH_SEPARATOR } from './categories.ts'
import type { CatalogColumn, CatalogRecord, DecimalMark, Sheet, SheetRow } from './catalog-file.ts'
import { isValidSku, optionClashes, optionKey, UNITS, type ProductUnit } from './products.ts'

/** Units a shop writes for goods sold by weight, volume or length: the base unit the catalog keeps, and how many of it. */
const perOfUnit = (u: { unit: ProductUnit; per: number; name?: string }) =>
  `a price per ${u.name} is a price per ${u.per} ${u.unit}: leave price_per blank or write ${u.per}`

const LARGER_UNITS: Record<string, { unit: ProductUnit; per: number; name: string }> = {
  kg: { unit: 'g', per: 1000, name: 'kg' },
  千克: { unit: 'g', per: 1000, name: '千克' },
  公斤: { unit: 'g', per: 1000, name: '公斤' },
  斤: { unit: 'g', per: 500, name: '斤' },
  两: { unit: 'g', per: 50, name: '两' },
  l: { unit: 'ml', per: 1000, name: 'L' },
  升: { unit: 'ml', per: 1000, name: '升' },
  m: { unit: 'cm', per: 100, name: 'm' },
  米: { unit: 'cm', per: 100, name: '米' },
}
import { categories, taxCategories, type BarcodeKind } from './schema.ts'

export interface ImportError {
  /** Line of the file (the header is line 1 of a plain file). */
  line: number
  sku: string | null
  field: CatalogColumn | null
  value: string | null
  code: string
  message: string
}

export interface ImportSummary {
  productsCreated: number
  productsUpdated: number
  productsUnchanged: number
  variantsCreated: number
  variantsUpdated: number
  variantsUnchanged: number
  /** Paths of the categories the import creates (or would create). */
  categoriesCreated: string[]
}

export interface ImportReport {
  dryRun: boolean
  /** Whether the import was written (never for a dry run or a file with errors). */
  applied: boolean
  /** Data rows read (blank rows are skipped). */
  rows: number
  errorCount: number
  /** Every problem found, by line (the first MAX_REPORTED_ERRORS of them). */
  errors: ImportError[]
  warnings: string[]
  summary: ImportSummary
}

export const MAX_REPORTED_ERRORS = 10_000
export const REQUIRED_COLUMNS: CatalogColumn[] = ['product_name', 'sku', 'price']

const KINDS: BarcodeKind[] = ['ean13', 'upca', 'ean8', 'internal', 'scale_plu']
const TRUE = new Set(['true', '1', 'yes', 'y', '是'])
const FALSE = new Set(['false', '0', 'no', 'n', '否'])

type Code = { code: string; kind: BarcodeKind }

/** One row, read and checked on its own. Optional fields are undefined when their cell is blank. */
interface Draft {
  line: number
  sku: string
  key: string | undefined
  name: string | undefined
  nameEn: string | undefined
  category: string[] | undefined
  taxCode: string | undefined
  unit: ProductUnit | undefined
  options: [string, string][] | undefined
  price: number | undefined
  pricePer: number | undefined
  cost: number | undefined
  barcodes: Code[] | undefined
  onShelf: boolean | undefined
  /** The variant's own tax category code and unit; undefined when blank (inherit, where the column is there). */
  variantTaxCode: string | undefined
  variantUnit: ProductUnit | undefined
  /** The larger unit the unit cell named (kg: 1000 g), which prices the rows of the product that name no unit. */
  impliedUnit: { unit: ProductUnit; per: number; name?: string } | undefined
  bad: boolean
}

interface Group {
  id: string
  rows: Draft[]
}

/** The barcode cell: codes separated by ";", each optionally "kind:code" where its digits alone would read as another kind. */
export const formatBarcodeCell = (codes: Code[]) =>
  codes
    .map((b) => {
      const natural = checkBarcode(b.code)
      return natural.ok && natural.kind === b.kind ? b.code : `${b.kind}:${b.code}`
    })
    .join(';')

export const formatOptionsCell = (options: string[], values: Record<string, string>) =>
  [...options, ...Object.keys(values).filter((o) => !options.includes(o))].map((o) => `${o}=${values[o] ?? ''}`).join(';')

class RowReader {
  readonly errors: ImportError[] = []
  currency: string
  decimalMark: DecimalMark
  constructor(currency: string, decimalMark: DecimalMark) {
    this.currency = currency
    this.decimalMark = decimalMark
  }

  fail(row: { line: number; sku?: string }, field: CatalogColumn | null, value: string | null, code: string, message: string) {
    this.errors.push({ line: row.line, sku: row.sku || null, field, value, code, message })
  }

  read(row: SheetRow): Draft {
    const c = row.cells
    const sku = c.sku ?? ''
    const at = { line: row.line, sku }
    const before = this.errors.length
    const text = (field: CatalogColumn, max: number) => {
      const v = c[field]
      if (!v) return undefined
      if (v.length > max) return void this.fail(at, field, v, 'too_long', `${field} has more than ${max} characters`)
      return v
    }
    if (!sku) this.fail(at, 'sku', null, 'missing_value', 'sku is required')
    else if (!isValidSku(sku)) this.fail(at, 'sku', sku, 'invalid_sku', 'a SKU has 1–64 letters, digits or - . _ /')
    const unit = this.unit(at, c.unit)
    const variantUnit = this.unit(at, c.variant_unit, 'variant_unit')
    const d: Draft = {
      line: row.line,
      sku,
      key: text('product_key', 200),
      name: text('product_name', 200),
      nameEn: text('product_name_en', 200),
      category: this.category(at, c.category),
      taxCode: text('tax_category', 64),
      unit: unit?.unit,
      options: this.options(at, c.options),
      price: this.money(at, 'price', c.price),
      pricePer: this.pricePer(at, c.price_per, variantUnit ?? unit),
      cost: this.money(at, 'cost', c.cost),
      barcodes: this.barcodes(at, c.barcodes),
      onShelf: this.onShelf(at, c.on_shelf),
      variantTaxCode: text('variant_tax_category', 64),
      variantUnit: variantUnit?.unit,
      impliedUnit: unit && unit.per > 1 ? unit : undefined,
      bad: false,
    }
    if (c.price === undefined || c.price === '') this.fail(at, 'price', null, 'missing_value', 'price is required')
    if (!d.key && !d.name && !c.product_name && !c.product_key) this.fail(at, 'product_name', null, 'missing_value', 'product_name is required (or a product_key that another row names)')
    d.bad = this.errors.length > before
    return d
  }

  private category(at: { line: number; sku: string }, v: string | undefined) {
    if (!v) return undefined
    const parts = v.split(PATH_SEPARATOR).map((p) => p.trim())
    if (parts.some((p) => !p)) return void this.fail(at, 'category', v, 'invalid_category', `a category path names each level between "${PATH_SEPARATOR}", like Food/Fruit`)
    for (const p of parts) {
      try {
        cleanCategoryName(p)
      } catch (e) {
        return void this.fail(at, 'category', v, 'invalid_category', (e as Error).message)
      }
    }
    return parts
  }

  /**
   * A unit cell: a base unit (piece, g, ml, cm), or a larger unit a shop writes (kg, 斤, L, m, …) read as its base
   * unit with the price given per that many base units (`per`).
   */
  private unit(at: { line: number; sku: string }, v: string | undefined, field: 'unit' | 'variant_unit' = 'unit'): { unit: ProductUnit; per: number } | undefined {
    if (!v) return undefined
    const u = v.trim().toLowerCase()
    if ((UNITS as readonly string[]).includes(u)) return { unit: u as ProductUnit, per: 1 }
    const larger = LARGER_UNITS[u]
    if (larger) return larger
    this.fail(at, field, v, 'invalid_unit', `${field} is one of ${UNITS.join(', ')}, or ${Object.keys(LARGER_UNITS).join(', ')} for goods sold in g, ml or cm priced per that unit`)
  }

  private options(at: { line: number; sku: string }, v: string | undefined) {
    if (!v) return undefined
    const out: [string, string][] = []
    for (const part of v.split(';')) {
      if (!part.trim()) continue
      const eq = part.indexOf('=')
      const name = eq < 0 ? '' : part.slice(0, eq).trim()
      // An empty value (Size=) names an option of the product this variant has no value for: kept in its place.
      const value = eq < 0 ? '' : part.slice(eq + 1).trim()
      if (!name) return void this.fail(at, 'options', v, 'invalid_options', `options are written Name=Value;Name=Value, like Size=L;Colour=Red ("${part.trim()}" is not)`)
      if (name.length > 50 || value.length > 100) return void this.fail(at, 'options', v, 'invalid_options', 'an option name has at most 50 characters and a value at most 100')
      if (out.some(([n]) => n === name)) return void this.fail(at, 'options', v, 'invalid_options', `option "${name}" is given twice`)
      out.push([name, value])
    }
    return out
  }

  private money(at: { line: number; sku: string }, field: 'price' | 'cost', v: string | undefined) {
    if (!v) return undefined
    try {
      const minor = parseMoney(v, this.currency, this.decimalMark)
      if (minor < 0) return void this.fail(at, field, v, 'invalid_amount', `${field} must not be negative`)
      return minor
    } catch (e) {
      if (!(e instanceof MoneyError)) throw e
      this.fail(at, field, v, 'invalid_amount', `${field} is a decimal amount in ${this.currency}, like ${this.decimalMark === ',' ? '12,34' : '12.34'}: ${e.message}`)
    }
  }

  /** price_per as written; blank, the size of a larger unit the row was written in (a price per kg: 1000 g). */
  private pricePer(at: { line: number; sku: string }, v: string | undefined, unit: { unit: ProductUnit; per: number; name?: string } | undefined) {
    const implied = unit && unit.per > 1 ? unit : undefined
    if (!v) return implied?.per
    const n = /^\d{1,7}$/.test(v) ? Number(v) : NaN
    if (!(n >= 1 && n <= 1_000_000)) return void this.fail(at, 'price_per', v, 'invalid_price_per', 'price_per is a whole number of base units from 1 to 1000000 (1000 for a price per kg of goods sold in g)')
    if (implied && n !== implied.per) {
      return void this.fail(at, 'price_per', v, 'invalid_price_per', perOfUnit(implied))
    }
    return n
  }

  private barcodes(at: { line: number; sku: string }, v: string | undefined) {
    if (!v) return undefined
    const out: Code[] = []
    for (const raw of v.split(';').map((s) => s.trim()).filter(Boolean)) {
      const m = /^([a-z0-9_]+):(.*)$/i.exec(raw)
      const kind = m && KINDS.includes(m[1]!.toLowerCase() as BarcodeKind) ? (m[1]!.toLowerCase() as BarcodeKind) : undefined
      const code = kind ? m![2]!.trim() : raw
      const r = checkBarcode(code, kind)
      if (!r.ok) {
        this.fail(at, 'barcodes', raw, 'invalid_barcode', `barcode ${raw}: ${r.reason}`)
        continue
      }
      out.push({ code, kind: r.kind })
    }
    return out
  }

  private onShelf(at: { line: number; sku: string }, v: string | undefined) {
    if (!v) return undefined
    const t = v.toLowerCase()
    if (TRUE.has(t)) return true
    if (FALSE.has(t)) return false
    this.fail(at, 'on_shelf', v, 'invalid_boolean', 'on_shelf is true or false (also 1/0, yes/no)')
  }
}

/** A variant as stored, with its product's fields: its own tax category and unit are named apart from the product's. */
type ExistingVariant = Omit<VariantRow, 'tax_category_id' | 'unit'> &
  Omit<ProductRow, 'id'> & { variant_tax_category_id: string | null; variant_unit: ProductUnit | null }

// Plan rows are named like their columns: they go to the database as JSON records (jsonb_to_recordset), one
// statement per table whatever the number of rows.
type ProductRow = { id: string; name: string; name_en: string | null; category_id: string | null; tax_category_id: string; unit: ProductUnit; options: string[] }
type VariantRow = {
  id: string
  product_id: string
  sku: string
  option_values: Record<string, string>
  price: number
  price_per: number
  cost: number
  on_shelf: boolean
  tax_category_id: string | null
  unit: ProductUnit | null
}
type BarcodeRow = { id: string; variant_id: string; code: string; kind: BarcodeKind }

interface Plan {
  categories: (typeof categories.$inferInsert & { id: string; path: string })[]
  newProducts: ProductRow[]
  productUpdates: { id: string; name: string; name_en: string | null; category_id: string | null; tax_category_id: string; options: string[] }[]
  newVariants: VariantRow[]
  variantUpdates: Omit<VariantRow, 'product_id' | 'sku'>[]
  priceChanges: { variantId: string; sku: string; price?: { from: number; to: number }; cost?: { from: number; to: number } }[]
  /** What falls under the merchant's price-change rule: SKUs whose price, cost, price_per or tax category in force changes, and products whose tax category does. */
  priceRuled: { skus: string[]; products: string[] }
  /** Variants whose barcodes are all deleted before newBarcodes go in. */
  replaceBarcodesOf: string[]
  newBarcodes: BarcodeRow[]
  summary: ImportSummary
}

const sameCodes = (a: Code[], b: Code[]) => {
  const key = (l: Code[]) => l.map((c) => `${c.kind}:${c.code}`).sort().join(';')
  return key(a) === key(b)
}
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
const sameValues = (a: Record<string, string>, b: Record<string, string>) => sameJson(Object.entries(a).sort(), Object.entries(b).sort())

/**
 * Checks a sheet against itself and the merchant's catalog and, unless it is a dry run or something is wrong,
 * writes it. The report is the same either way; the caller answers an unapplied apply as a failure.
 */
export async function importCatalog(tx: Tx, actor: Actor, sheet: Sheet, opts: { dryRun: boolean }): Promise<ImportReport> {
  const merchantId = actor.merchantId
  const { currency } = await getSettings(tx, merchantId)
  const reader = new RowReader(currency, sheet.decimalMark)
  const warnings: string[] = []
  const headerAt = { line: sheet.headerLine }
  for (const col of REQUIRED_COLUMNS) if (!sheet.columns.includes(col)) reader.fail(headerAt, col, null, 'missing_column', `the header has no ${col} column`)
  for (const col of sheet.duplicateColumns) reader.fail(headerAt, col, col, 'duplicate_column', `column ${col} appears twice in the header`)
  if (sheet.unknownColumns.length) warnings.push(`ignored columns: ${sheet.unknownColumns.join(', ')}`)
  const headerBad = reader.errors.length > 0

  // Creating categories takes the tree lock before they are read, so the plan's view of the tree stays true.
  if (!opts.dryRun) await lockCategoryTree(tx, merchantId)

  const drafts = headerBad ? [] : sheet.rows.map((r) => reader.read(r))
  const plan = await makePlan(tx, merchantId, drafts, reader, new Set(sheet.columns), { lock: !opts.dryRun })
  const errors = reader.errors.sort((a, b) => a.line - b.line)
  const report: ImportReport = {
    dryRun: opts.dryRun,
    applied: false,
    rows: sheet.rows.length,
    errorCount: errors.length,
    errors: errors.slice(0, MAX_REPORTED_ERRORS),
    warnings,
    summary: plan.summary,
  }
  const ruled = plan.priceRuled.skus.length + plan.priceRuled.products.length
  const approval = ruled > 0 && errors.length === 0 ? await priceChangeApproval(tx, actor) : { needed: false, approverId: null }
  if (approval.needed) {
    const what = `${ruled} price change${ruled === 1 ? '' : 's'} (price, cost, price_per or tax category)`
    if (opts.dryRun) warnings.push(`${what} ${ruled === 1 ? 'needs' : 'need'} a manager's approval: have a manager apply the file, or send it with a manager's override (X-Approver-Pin or X-Approver-Token)`)
    else {
      throw forbidden('price_change_approval_required', `the file makes ${what}, which the merchant requires a manager to approve: have a manager apply it, or send it with a manager's override (X-Approver-Pin or X-Approver-Token)`, {
        count: ruled,
        skus: plan.priceRuled.skus.slice(0, MAX_REPORTED_ERRORS),
        products: plan.priceRuled.products.slice(0, MAX_REPORTED_ERRORS),
      })
    }
  }
  if (opts.dryRun || errors.length > 0) return report
  const writer = approval.approverId ? { ...actor, approvedBy: approval.approverId } : actor
  await applyPlan(tx, writer, plan)
  await recordAudit(tx, writer, { action: 'catalog.imported', entityType: 'catalog', entityId: null, details: { rows: report.rows, ...plan.summary } })
  return { ...report, applied: true }
}

/**
 * With `lock` (an import that will be written), the existing variants of the file and their products are read locked
 * until the transaction ends, so the plan is made against the rows as they are when it is written: an edit committed
 * meanwhile is waited for and read, not written back over (see "blank" above).
 */
async function makePlan(tx: Tx, merchantId: string, drafts: Draft[], reader: RowReader, columns: Set<CatalogColumn>, opts: { lock: boolean }): Promise<Plan> {
  const fail = reader.fail.bind(reader)

  // Across rows: a SKU or a barcode may appear once in the file.
  const skuLine = new Map<string, number>()
  const codeAt = new Map<string, Draft>()
  for (const d of drafts) {
    if (!d.sku) continue
    const first = skuLine.get(d.sku)
    if (first !== undefined) {
      fail(d, 'sku', d.sku, 'duplicate_sku', `SKU ${d.sku} is also on line ${first}`)
      d.bad = true
    } else skuLine.set(d.sku, d.line)
    for (const b of d.barcodes ?? []) {
      const keys = barcodeKeys(b)
      const other = keys.map((k) => codeAt.get(k)).find((x) => x !== undefined)
      if (other) {
        fail(d, 'barcodes', b.code, 'duplicate_barcode', other === d ? `barcode ${b.code} is given twice` : `barcode ${b.code} is also given on line ${other.line} (SKU ${other.sku})`)
        d.bad = true
      } else for (const k of keys) codeAt.set(k, d)
    }
  }

  const skus = [...skuLine.keys()]
  const existingRows = skus.length
    ? (
        await tx.execute<ExistingVariant>(sql`
          select v.id, v.sku, v.product_id, v.option_values, v.price, v.price_per, v.cost, v.on_shelf,
                 v.tax_category_id as variant_tax_category_id, v.unit as variant_unit, p.name, p.name_en, p.category_id, p.tax_category_id, p.unit, p.options
            from variants v join products p on p.id = v.product_id
           where v.merchant_id = ${merchantId} and v.sku = any(${sql.param(skus)}::text[])
           ${opts.lock ? sql`for no key update of v, p` : sql``}`)
      ).rows.map((r) => ({ ...r, price: Number(r.price), cost: Number(r.cost) }))
    : []
  const existing = new Map(existingRows.map((r) => [r.sku, r]))
  // The other variants of the products the file changes: their options stay, and the file's must differ from them.
  const productIds = [...new Set(existingRows.map((r) => r.product_id))]
  const siblings = new Map<string, { sku: string; option_values: Record<string, string> }[]>()
  if (productIds.length) {
    const { rows } = await tx.execute<{ product_id: string; sku: string; option_values: Record<string, string> }>(
      sql`select product_id, sku, option_values from variants where product_id = any(${sql.param(productIds)}::uuid[]) and not (sku = any(${sql.param(skus)}::text[]))`,
    )
    for (const r of rows) siblings.set(r.product_id, [...(siblings.get(r.product_id) ?? []), r])
  }
  const existingCodes = await loadCodes(tx, merchantId, drafts.flatMap((d) => d.barcodes ?? []), existingRows.map((r) => r.id))

  // A barcode owned in the catalog by a SKU that keeps it (not in the file, or in it with a blank barcode cell).
  const bySku = new Map(drafts.map((d) => [d.sku, d]))
  for (const d of drafts) {
    for (const b of d.barcodes ?? []) {
      for (const key of barcodeKeys(b)) {
        const owner = existingCodes.byKey.get(key)
        if (!owner || owner.sku === d.sku) continue
        const ownerRow = bySku.get(owner.sku)
        const released = ownerRow?.barcodes !== undefined && !ownerRow.barcodes.some((x) => barcodeKeys(x).includes(key))
        if (!released) {
          fail(d, 'barcodes', b.code, 'barcode_taken', `barcode ${b.code} already belongs to SKU ${owner.sku}`)
          d.bad = true
          break
        }
      }
    }
  }

  /** Existing products whose tax category the file changes: id → name. */
  const taxChanged = new Map<string, string>()
  // Groups, and the existing product each one updates.
  const groups = new Map<string, Group>()
  for (const d of drafts) {
    const key = d.key ? `key:${d.key}` : d.name ? `name:${d.name}` : undefined
    if (!key) continue
    const g = groups.get(key) ?? groups.set(key, { id: key, rows: [] }).get(key)!
    g.rows.push(d)
  }
  const taxes = await tx.select({ id: taxCategories.id, code: taxCategories.code }).from(taxCategories).where(eq(taxCategories.merchantId, merchantId))
  const taxByCode = new Map(taxes.map((t) => [t.code, t.id]))
  // The variant's own tax category and unit as the file leaves them (see "blank" above).
  const ownTax = (d: Draft, before: ExistingVariant | undefined) =>
    columns.has('variant_tax_category') ? (d.variantTaxCode ? (taxByCode.get(d.variantTaxCode) ?? null) : null) : (before?.variant_tax_category_id ?? null)
  const ownUnit = (d: Draft, before: ExistingVariant | undefined) => (columns.has('variant_unit') ? (d.variantUnit ?? null) : (before?.variant_unit ?? null))
  // Stock and sales are counted in a variant's effective unit: it cannot change once the variant has either.
  const unitMoves = drafts.filter((d) => {
    const before = existing.get(d.sku)
    return before && (ownUnit(d, before) ?? before.unit) !== (before.variant_unit ?? before.unit)
  })
  const unitLocked = await variantsInUse(tx, merchantId, unitMoves.map((d) => existing.get(d.sku)!.id), opts)
  const tree = await listCategories(tx, merchantId)
  // A path matches whatever its letters' case; a new category's path reads with its parents' own spelling. Case is
  // folded by the database's lower(), as its index on sibling names does (JavaScript lowers İ to an i with a
  // combining dot, PostgreSQL to a plain i), so the plan never makes two categories the index takes for one.
  const names = [...new Set([...tree.flatMap((c) => c.path.split(PATH_SEPARATOR)), ...drafts.flatMap((d) => d.category ?? [])])]
  const lowered = names.length
    ? new Map((await tx.execute<{ name: string; folded: string }>(sql`select n as name, lower(n) as folded from unnest(${sql.param(names)}::text[]) as n`)).rows.map((r) => [r.name, r.folded]))
    : new Map<string, string>()
  const pathKey = (parts: string[]) => parts.map((p) => lowered.get(p) ?? p).join(PATH_SEPARATOR)
  const categoryByPath = new Map<string, { id: string; path: string }>()
  for (const c of tree) {
    const key = pathKey(c.path.split(PATH_SEPARATOR))
    if (!categoryByPath.has(key)) categoryByPath.set(key, { id: c.id, path: c.path })
  }
  const plan: Plan = {
    categories: [],
    newProducts: [],
    productUpdates: [],
    newVariants: [],
    variantUpdates: [],
    priceChanges: [],
    priceRuled: { skus: [], products: [] },
    replaceBarcodesOf: [],
    newBarcodes: [],
    summary: { productsCreated: 0, productsUpdated: 0, productsUnchanged: 0, variantsCreated: 0, variantsUpdated: 0, variantsUnchanged: 0, categoriesCreated: [] },
  }
  const categoryFor = (parts: string[]): string => {
    let parentId: string | null = null
    let path = ''
    for (const [i, name] of parts.entries()) {
      const key = pathKey(parts.slice(0, i + 1))
      let found = categoryByPath.get(key)
      if (!found) {
        found = { id: newId(), path: path ? `${path}${PATH_SEPARATOR}${name}` : name }
        categoryByPath.set(key, found)
        plan.categories.push({ id: found.id, merchantId, parentId, name, path: found.path })
      }
      parentId = found.id
      path = found.path
    }
    return parentId!
  }
  const groupOfProduct = new Map<string, Draft>()

  for (const g of groups.values()) {
    // Product cells: blank cells take the value the other rows of the group give; two different values conflict.
    const pick = <T>(field: CatalogColumn, get: (d: Draft) => T | undefined, show: (v: T) => string = String, same = (a: T, b: T) => show(a) === show(b)) => {
      let first: Draft | undefined
      for (const d of g.rows) {
        const v = get(d)
        if (v === undefined) continue
        if (!first) first = d
        else if (!same(v, get(first)!)) {
          fail(d, field, show(v), 'conflicting_product_field', `${field} differs from "${show(get(first)!)}" on line ${first.line} of the same product`)
          d.bad = true
        }
      }
      return first ? get(first) : undefined
    }
    const name = pick('product_name', (d) => d.name)
    const nameEn = pick('product_name_en', (d) => d.nameEn)
    const showPath = (p: string[]) => p.join(PATH_SEPARATOR)
    // Category paths are matched ignoring case, so Food/Fruit and food/fruit are the same category.
    const categoryPath = pick('category', (d) => d.category, showPath, (a, b) => pathKey(a) === pathKey(b))
    const taxCode = pick('tax_category', (d) => d.taxCode)
    const unit = pick('unit', (d) => d.unit)
    // A row without a unit cell (nor a variant unit) is priced per the unit its product's rows give: per 1000 g for kg.
    const implied = g.rows.find((d) => d.unit !== undefined)?.impliedUnit
    for (const d of g.rows) {
      if (!implied || d.unit !== undefined || d.variantUnit !== undefined) continue
      if (d.pricePer === undefined) d.pricePer = implied.per
      else if (d.pricePer !== implied.per) {
        fail(d, 'price_per', String(d.pricePer), 'invalid_price_per', perOfUnit(implied))
        d.bad = true
      }
    }

    const owners = g.rows.map((d) => ({ d, v: existing.get(d.sku) })).filter((x): x is { d: Draft; v: ExistingVariant } => x.v !== undefined)
    const target = owners[0]?.v
    for (const { d, v } of owners.slice(1)) {
      if (v.product_id !== target!.product_id) {
        fail(d, 'sku', d.sku, 'sku_of_other_product', `SKU ${d.sku} belongs to product "${v.name}", not to "${target!.name}" of SKU ${owners[0]!.d.sku} on line ${owners[0]!.d.line}; one product group cannot join two products (give their rows different product_key values)`)
        d.bad = true
      }
    }
    if (target) {
      const other = groupOfProduct.get(target.product_id)
      if (other) {
        for (const d of g.rows) {
          fail(d, d.key ? 'product_key' : 'product_name', d.key ?? d.name ?? null, 'product_in_two_groups', `these rows update product "${target.name}" like line ${other.line} does; give them the same product_key`)
          d.bad = true
        }
      } else groupOfProduct.set(target.product_id, g.rows[0]!)
      if (unit !== undefined && unit !== target.unit) {
        const d = g.rows.find((r) => r.unit !== undefined)!
        fail(d, 'unit', unit, 'unit_change', `the unit of an existing product cannot change (it is ${target.unit})`)
        d.bad = true
      }
    }
    let taxId: string | undefined
    if (taxCode !== undefined) {
      taxId = taxByCode.get(taxCode)
      if (!taxId) {
        for (const d of g.rows.filter((r) => r.taxCode === taxCode)) {
          fail(d, 'tax_category', taxCode, 'unknown_tax_category', `no tax category has code ${taxCode} (known: ${[...taxByCode.keys()].join(', ') || 'none'})`)
          d.bad = true
        }
      }
    } else if (!target) {
      fail(g.rows[0]!, 'tax_category', null, 'missing_value', 'tax_category is required for a new product')
      g.rows[0]!.bad = true
    }
    for (const d of g.rows) {
      if (d.variantTaxCode !== undefined && !taxByCode.has(d.variantTaxCode)) {
        fail(d, 'variant_tax_category', d.variantTaxCode, 'unknown_tax_category', `no tax category has code ${d.variantTaxCode} (known: ${[...taxByCode.keys()].join(', ') || 'none'})`)
        d.bad = true
      }
      const before = existing.get(d.sku)
      if (before && unitLocked.has(before.id)) {
        const from = before.variant_unit ?? before.unit
        fail(d, 'variant_unit', d.variantUnit ?? '', 'unit_change', `the unit of ${d.sku} cannot change from ${from} to ${ownUnit(d, before) ?? before.unit}: it has stock or sales counted in ${from}`)
        d.bad = true
      }
    }
    if (!target && name === undefined) {
      fail(g.rows[0]!, 'product_name', null, 'missing_value', 'product_name is required for a new product')
      g.rows[0]!.bad = true
    }
    // A row found bad so far still has its options checked against the others: the dry run reports every bad row.
    const optionNames = [...(target?.options ?? [])]
    for (const d of g.rows) for (const [o] of d.options ?? []) if (!optionNames.includes(o)) optionNames.push(o)
    const valuesOf = (d: Draft) => (d.options ? Object.fromEntries(d.options.filter(([, v]) => v !== '')) : (existing.get(d.sku)?.option_values ?? {}))
    // A variant the file adds, or whose option values it changes, never has the same values as another of its
    // product (as the API refuses it). Variants the file leaves as they are stand as they are, alike or not (a
    // product that has just been given its first option gets its variants' values one by one).
    if (optionNames.length) {
      const unchanged = (d: Draft) => {
        const before = existing.get(d.sku)
        return before !== undefined && optionKey(optionNames, before.option_values) === optionKey(optionNames, valuesOf(d))
      }
      const others = [
        ...(target ? (siblings.get(target.product_id) ?? []) : []).map((v) => ({ sku: v.sku, optionValues: v.option_values })),
        ...g.rows.filter(unchanged).map((d) => ({ sku: d.sku, optionValues: valuesOf(d) })),
      ]
      const changed = g.rows.filter((d) => !unchanged(d)).map((d) => ({ sku: d.sku, optionValues: valuesOf(d), draft: d }))
      for (const { variant, other } of optionClashes(optionNames, others, changed)) {
        const d = variant.draft
        fail(d, 'options', d.options ? formatOptionsCell(optionNames, variant.optionValues) : null, 'duplicate_variant_options', `SKU ${other} of the same product has the same options`)
        d.bad = true
      }
    }
    if (g.rows.some((d) => d.bad)) continue
    const categoryId = categoryPath ? categoryFor(categoryPath) : (target?.category_id ?? null)

    let productId: string
    if (target) {
      productId = target.product_id
      const next = {
        id: productId,
        name: name ?? target.name,
        name_en: nameEn ?? target.name_en,
        category_id: categoryId,
        tax_category_id: taxId ?? target.tax_category_id,
        options: optionNames,
      }
      const changed =
        next.name !== target.name ||
        next.name_en !== target.name_en ||
        next.category_id !== target.category_id ||
        next.tax_category_id !== target.tax_category_id ||
        !sameJson(next.options, target.options)
      if (changed) {
        plan.productUpdates.push(next)
        plan.summary.productsUpdated++
        if (next.tax_category_id !== target.tax_category_id) taxChanged.set(productId, next.name)
      } else plan.summary.productsUnchanged++
    } else {
      productId = newId()
      plan.newProducts.push({ id: productId, name: name!, name_en: nameEn ?? null, category_id: categoryId, tax_category_id: taxId!, unit: unit ?? 'piece', options: optionNames })
      plan.summary.productsCreated++
    }

    for (const d of g.rows) {
      const before = existing.get(d.sku)
      const optionValues = valuesOf(d)
      if (!before) {
        const id = newId()
        plan.newVariants.push({
          id,
          product_id: productId,
          sku: d.sku,
          option_values: optionValues,
          price: d.price!,
          price_per: d.pricePer ?? 1,
          cost: d.cost ?? 0,
          on_shelf: d.onShelf ?? true,
          tax_category_id: ownTax(d, undefined),
          unit: ownUnit(d, undefined),
        })
        for (const b of d.barcodes ?? []) plan.newBarcodes.push({ id: newId(), variant_id: id, ...b })
        plan.summary.variantsCreated++
        continue
      }
      const next = {
        id: before.id,
        option_values: optionValues,
        price: d.price!,
        price_per: d.pricePer ?? before.price_per,
        cost: d.cost ?? before.cost,
        on_shelf: d.onShelf ?? before.on_shelf,
        tax_category_id: ownTax(d, before),
        unit: ownUnit(d, before),
      }
      const codesChanged = d.barcodes !== undefined && !sameCodes(d.barcodes, existingCodes.byVariant.get(before.id) ?? [])
      const changed =
        codesChanged ||
        next.price !== before.price ||
        next.price_per !== before.price_per ||
        next.cost !== before.cost ||
        next.on_shelf !== before.on_shelf ||
        next.tax_category_id !== before.variant_tax_category_id ||
        next.unit !== before.variant_unit ||
        !sameValues(next.option_values, before.option_values)
      if (!changed) {
        plan.summary.variantsUnchanged++
        continue
      }
      plan.summary.variantsUpdated++
      plan.variantUpdates.push(next)
      const taxInForce = (own: string | null, product: string) => own ?? product
      if (
        next.price !== before.price ||
        next.cost !== before.cost ||
        next.price_per !== before.price_per ||
        taxInForce(next.tax_category_id, taxId ?? before.tax_category_id) !== taxInForce(before.variant_tax_category_id, before.tax_category_id)
      ) {
        plan.priceRuled.skus.push(d.sku)
      }
      if (next.price !== before.price || next.cost !== before.cost) {
        plan.priceChanges.push({
          variantId: before.id,
          sku: d.sku,
          ...(next.price !== before.price ? { price: { from: before.price, to: next.price } } : {}),
          ...(next.cost !== before.cost ? { cost: { from: before.cost, to: next.cost } } : {}),
        })
      }
      if (codesChanged) {
        plan.replaceBarcodesOf.push(before.id)
        for (const b of d.barcodes!) plan.newBarcodes.push({ id: newId(), variant_id: before.id, ...b })
      }
    }
  }
  // A product's tax category is in force for its variants without one of their own. Those in the file were weighed
  // above, each with the tax it will have; one outside the file changes what its customers pay only if it inherits.
  if (taxChanged.size) {
    const { rows } = await tx.execute<{ product_id: string }>(sql`
      select distinct product_id from variants
       where merchant_id = ${merchantId} and product_id = any(${sql.param([...taxChanged.keys()])}::uuid[])
         and tax_category_id is null and sku <> all(${sql.param(skus)}::text[])`)
    for (const r of rows) plan.priceRuled.products.push(taxChanged.get(r.product_id)!)
  }
  plan.summary.categoriesCreated = plan.categories.map((c) => c.path)
  return plan
}

/**
 * Those of the variants that have stock (a level at any location) or sales. With `lock`, the variants are first held
 * FOR UPDATE, as updateVariant holds one whose unit it changes: sales and stock movements of them in flight (holding
 * them key share, see lookupSellables) are waited for and seen, and later ones wait for the import.
 */
async function variantsInUse(tx: Tx, merchantId: string, ids: string[], opts: { lock: boolean }): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  if (opts.lock) await tx.execute(sql`select id from variants where merchant_id = ${merchantId} and id = any(${sql.param(ids)}::uuid[]) order by id for update`)
  const { rows } = await tx.execute<{ id: string }>(sql`
    select variant_id as id from stock_levels where merchant_id = ${merchantId} and variant_id = any(${sql.param(ids)}::uuid[])
    union select variant_id from sale_lines where merchant_id = ${merchantId} and variant_id = any(${sql.param(ids)}::uuid[])`)
  return new Set(rows.map((r) => r.id))
}

/** The catalog's barcodes that clash with `codes` (by barcodeKeys) or belong to `variantIds`. */
async function loadCodes(tx: Tx, merchantId: string, codes: Code[], variantIds: string[]) {
  const byKey = new Map<string, { variantId: string; sku: string }>()
  const byVariant = new Map<string, Code[]>()
  if (codes.length || variantIds.length) {
    const gtins = codes.flatMap((c) => gtinKey(c.code, c.kind) ?? [])
    const plus = codes.filter((c) => c.kind === 'scale_plu').map((c) => pluKey(c.code))
    const { rows } = await tx.execute<{ code: string; kind: BarcodeKind; variant_id: string; sku: string }>(sql`
      select b.code, b.kind, b.variant_id, v.sku from barcodes b join variants v on v.id = b.variant_id
       where b.merchant_id = ${merchantId}
         and (b.code = any(${sql.param(codes.map((c) => c.code))}::text[]) or b.gtin = any(${sql.param(gtins)}::text[])
              or (b.kind = 'scale_plu' and ${PLU_KEY_SQL(sql`b.code`)} = any(${sql.param(plus)}::text[]))
              or b.variant_id = any(${sql.param(variantIds)}::uuid[]))`)
    for (const r of rows) {
      for (const k of barcodeKeys(r)) byKey.set(k, { variantId: r.variant_id, sku: r.sku })
      byVariant.set(r.variant_id, [...(byVariant.get(r.variant_id) ?? []), { code: r.code, kind: r.kind }])
    }
  }
  return { byKey, byVariant }
}

const CHUNK = 1000
async function insertChunked<T>(list: T[], insert: (chunk: T[]) => Promise<unknown>) {
  for (let i = 0; i < list.length; i += CHUNK) await insert(list.slice(i, i + CHUNK))
}

async function applyPlan(tx: Tx, actor: Actor, plan: Plan): Promise<void> {
  const merchantId = actor.merchantId
  try {
    await insertChunked(plan.categories, (c) => tx.insert(categories).values(c.map(({ path: _, ...row }) => row)))
    if (plan.newProducts.length) {
      await tx.execute(sql`
        insert into products (id, merchant_id, name, name_en, category_id, tax_category_id, unit, options)
        select x.id, ${merchantId}, x.name, x.name_en, x.category_id, x.tax_category_id, x.unit, x.options
          from jsonb_to_recordset(${JSON.stringify(plan.newProducts)}::jsonb)
               as x(id uuid, name text, name_en text, category_id uuid, tax_category_id uuid, unit text, options jsonb)`)
    }
    if (plan.productUpdates.length) {
      await tx.execute(sql`
        update products p
           set name = x.name, name_en = x.name_en, category_id = x.category_id, tax_category_id = x.tax_category_id, options = x.options, updated_at = now()
          from jsonb_to_recordset(${JSON.stringify(plan.productUpdates)}::jsonb)
               as x(id uuid, name text, name_en text, category_id uuid, tax_category_id uuid, options jsonb)
         where p.id = x.id and p.merchant_id = ${merchantId}`)
    }
    if (plan.newVariants.length) {
      await tx.execute(sql`
        insert into variants (id, merchant_id, product_id, sku, option_values, price, price_per, cost, on_shelf, tax_category_id, unit)
        select x.id, ${merchantId}, x.product_id, x.sku, x.option_values, x.price, x.price_per, x.cost, x.on_shelf, x.tax_category_id, x.unit
          from jsonb_to_recordset(${JSON.stringify(plan.newVariants)}::jsonb)
               as x(id uuid, product_id uuid, sku text, option_values jsonb, price bigint, price_per integer, cost bigint, on_shelf boolean, tax_category_id uuid, unit text)`)
    }
    if (plan.variantUpdates.length) {
      await tx.execute(sql`
        update variants v
           set option_values = x.option_values, price = x.price, price_per = x.price_per, cost = x.cost, on_shelf = x.on_shelf,
               tax_category_id = x.tax_category_id, unit = x.unit, updated_at = now()
          from jsonb_to_recordset(${JSON.stringify(plan.variantUpdates)}::jsonb)
               as x(id uuid, option_values jsonb, price bigint, price_per integer, cost bigint, on_shelf boolean, tax_category_id uuid, unit text)
         where v.id = x.id and v.merchant_id = ${merchantId}`)
    }
    if (plan.replaceBarcodesOf.length) {
      await tx.execute(sql`delete from barcodes where merchant_id = ${merchantId} and variant_id = any(${sql.param(plan.replaceBarcodesOf)}::uuid[])`)
    }
    if (plan.newBarcodes.length) {
      await tx.execute(sql`
        insert into barcodes (id, merchant_id, variant_id, code, kind)
        select x.id, ${merchantId}, x.variant_id, x.code, x.kind
          from jsonb_to_recordset(${JSON.stringify(plan.newBarcodes)}::jsonb) as x(id uuid, variant_id uuid, code text, kind text)`)
    }
  } catch (e) {
    // Only a concurrent change can get here: the plan already checked every SKU, barcode and category name against the catalog.
    if (isUniqueViolation(e, 'categories_sibling_name_key')) throw conflict('category_taken', 'a category of the file was created by another change meanwhile; run the import again')
    if (isUniqueViolation(e, 'variants_sku_key')) throw conflict('sku_taken', 'a SKU of the file was created by another change meanwhile; run the import again')
    if ((isUniqueViolation(e, 'barcodes_code_key') || isUniqueViolation(e, 'barcodes_gtin_key'))) throw conflict('barcode_taken', 'a barcode of the file was given to another variant meanwhile; run the import again')
    throw e
  }
  // Price and cost changes are audited per variant, as a change through the API would be, a thousand rows a statement.
  await insertChunked(plan.priceChanges, (c) =>
    tx.insert(auditLog).values(
      c.map(({ variantId, ...details }) => ({
        merchantId,
        actorType: actor.type,
        actorId: actor.id,
        actorName: actor.name,
        action: 'variant.price_changed',
        entityType: 'variant',
        entityId: variantId,
        details: { ...details, source: 'import' },
        approverId: actor.approvedBy ?? null,
        requestId: actor.requestId ?? null,
      })),
    ),
  )
}

/** The merchant's active products as sheet records, in the import layout; money as decimal text of its currency. */
export async function exportCatalog(tx: Tx, merchantId: string): Promise<CatalogRecord[]> {
  const { currency } = await getSettings(tx, merchantId)
  const paths = new Map((await listCategories(tx, merchantId)).map((c) => [c.id, c.path]))
  const { rows } = await tx.execute<{
    product_id: string
    name: string
    name_en: string | null
    category_id: string | null
    tax_code: string
    unit: ProductUnit
    options: string[]
    sku: string
    option_values: Record<string, string>
    price: number
    price_per: number
    cost: number
    on_shelf: boolean
    variant_tax_code: string | null
    variant_unit: ProductUnit | null
    codes: Code[]
  }>(sql`
    select p.id as product_id, p.name, p.name_en, p.category_id, t.code as tax_code, p.unit, p.options,
           v.sku, v.option_values, v.price, v.price_per, v.cost, v.on_shelf, vt.code as variant_tax_code, v.unit as variant_unit,
           coalesce((select json_agg(json_build_object('code', b.code, 'kind', b.kind) order by b.created_at, b.code)
                       from barcodes b where b.variant_id = v.id), '[]'::json) as codes
      from products p
      join variants v on v.product_id = p.id
      join tax_categories t on t.id = p.tax_category_id
      left join tax_categories vt on vt.id = v.tax_category_id
     where p.merchant_id = ${merchantId} and p.status = 'active'
     order by p.id, v.sku`)
  const keyOf = new Map<string, string>()
  return rows.map((r) => {
    // The first SKU of a product names its group: readable, and unique because SKUs are.
    const key = keyOf.get(r.product_id) ?? keyOf.set(r.product_id, r.sku).get(r.product_id)!
    return {
      product_key: key,
      product_name: r.name,
      product_name_en: r.name_en ?? '',
      category: r.category_id ? (paths.get(r.category_id) ?? '') : '',
      tax_category: r.tax_code,
      unit: r.unit,
      sku: r.sku,
      options: formatOptionsCell(r.options, r.option_values),
      price: formatDecimal(Number(r.price), currency),
      price_per: String(r.price_per),
      cost: formatDecimal(Number(r.cost), currency),
      barcodes: formatBarcodeCell(r.codes),
      on_shelf: r.on_shelf ? 'true' : 'false',
      variant_tax_category: r.variant_tax_code ?? '',
      variant_unit: r.variant_unit ?? '',
    }
  })
}
