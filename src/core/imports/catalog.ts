// The catalog from another POS: its export's headers are mapped onto the catalog spreadsheet's columns
// (headers.ts) and its ways of writing a few cells onto ours, then the catalog's own import checks and writes it
// (import-export.ts: every row checked, all or nothing, upsert by SKU, so a second run changes nothing).
//
// What is translated: units the catalog import does not read itself (个/件/瓶… are pieces, 克 is g, kilogram is kg,
// litre is L…; the catalog import reads kg, 公斤 and 斤 as grams priced per 1000 or 500 g, L as ml per 1000, m as cm
// per 100), shelf states (上架/下架, 启用/停用), barcode lists separated by commas or spaces, a row without a SKU takes
// its (first) barcode as SKU, and a new product without a tax category gets the merchant's default one
// (`taxCategory`, 'standard' unless said) — existing products keep theirs.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { CATALOG_COLUMNS, type CatalogColumn, type Sheet } from '../catalog/catalog-file.ts'
import { importCatalog, type ImportSummary } from '../catalog/import-export.ts'
import type { Actor } from '../staff/actor.ts'
import { cellsOf, mapColumns } from './headers.ts'
import type { ImportOptions, PosImportReport } from './report.ts'
import type { Table } from './table.ts'

const PIECES = ['piece', 'pieces', 'pcs', 'pc', 'ea', 'each', '个', '件', '只', '瓶', '盒', '包', '袋', '支', '双', '套', '张', '本', '杯', '份', '罐', '听', '条', '块', '台', '把', '箱', '桶', '卷', '片', '根', '对', '枚', '副', '组', '提', '串', '粒', '头', '棵']
/**
 * Unit cell → the unit the catalog import reads; a cell not here goes as it is. A larger unit stays a larger unit
 * (kilogram → kg, not g): the catalog import prices it per its size in base units, also on the product's rows that
 * name no unit, and refuses a price_per that contradicts it.
 */
export const UNIT_ALIASES = new Map<string, string>([
  ...PIECES.map((u) => [u, 'piece'] as const),
  ...['gram', 'grams', '克'].map((u) => [u, 'g'] as const),
  ...['kilogram', 'kilograms'].map((u) => [u, 'kg'] as const),
  ...['millilitre', 'milliliter', '毫升'].map((u) => [u, 'ml'] as const),
  ...['litre', 'liter'].map((u) => [u, 'l'] as const),
  ...['centimetre', 'centimeter', '厘米'].map((u) => [u, 'cm'] as const),
  ...['metre', 'meter'].map((u) => [u, 'm'] as const),
])

const ON_SHELF = new Map<string, string>([
  ...['上架', '在售', '销售中', '启用', '正常', '有效', '已上架'].map((v) => [v, 'true'] as const),
  ...['下架', '停售', '停用', '禁用', '无效', '已下架', '删除'].map((v) => [v, 'false'] as const),
])

/** Catalog import of another POS's export; the report is the catalog import's, with the file's headers named. */
export async function importPosCatalog(tx: Tx, actor: Actor, table: Table, opts: ImportOptions & { taxCategory?: string }): Promise<PosImportReport<ImportSummary>> {
  const map = mapColumns('catalog', table)
  const has = (c: CatalogColumn) => map.index.has(c)
  const rows = table.rows.map((r) => ({ line: r.line, cells: cellsOf(map, r.values) as Partial<Record<CatalogColumn, string>> }))
  const extra = new Set<CatalogColumn>()

  for (const { cells } of rows) {
    if (cells.barcodes) cells.barcodes = cells.barcodes.split(/[;,，、\s]+/).filter(Boolean).join(';')
    if (!cells.sku && cells.barcodes) {
      // The (first) barcode names the item when the old system had no SKU of its own.
      cells.sku = cells.barcodes.split(';')[0]!.replace(/^[a-z0-9_]+:/, '')
      extra.add('sku')
    }
    if (cells.unit) cells.unit = UNIT_ALIASES.get(cells.unit.trim().toLowerCase()) ?? cells.unit
    if (cells.on_shelf) cells.on_shelf = ON_SHELF.get(cells.on_shelf.trim()) ?? cells.on_shelf
  }

  // New products without a tax category get the default one; products with an existing SKU in the file keep what
  // they have, also on the rows that add a new SKU to them (rows form a product by product_key, else product_name).
  const taxCode = opts.taxCategory ?? 'standard'
  const skus = [...new Set(rows.flatMap((r) => (r.cells.sku ? [r.cells.sku] : [])))]
  const existing = new Set(
    skus.length
      ? (await tx.execute<{ sku: string }>(sql`select sku from variants where merchant_id = ${actor.merchantId} and sku = any(${sql.param(skus)}::text[])`)).rows.map((r) => r.sku)
      : [],
  )
  const [tax] = (await tx.execute<{ code: string }>(sql`select code from tax_categories where merchant_id = ${actor.merchantId} and code = ${taxCode}`)).rows
  const productOf = (cells: Record<string, string | undefined>) => (cells.product_key?.trim() ? `key:${cells.product_key.trim()}` : cells.product_name?.trim() ? `name:${cells.product_name.trim()}` : undefined)
  const existingProducts = new Set(rows.flatMap(({ cells }) => (cells.sku && existing.has(cells.sku) ? [productOf(cells)] : [])))
  if (tax || opts.taxCategory) {
    for (const { cells } of rows) {
      if (!cells.tax_category && !(cells.sku && existing.has(cells.sku)) && !existingProducts.has(productOf(cells))) {
        cells.tax_category = taxCode
        extra.add('tax_category')
      }
    }
  }

  const sheet: Sheet = {
    headerLine: table.headerLine,
    columns: CATALOG_COLUMNS.filter((c) => has(c) || extra.has(c)),
    unknownColumns: map.unknown,
    duplicateColumns: map.duplicates.map(([field]) => field as CatalogColumn),
    rows,
    decimalMark: table.decimalMark,
  }
  const r = await importCatalog(tx, actor, sheet, { dryRun: opts.dryRun })
  return {
    kind: 'catalog',
    format: table.format,
    source: opts.source,
    dryRun: r.dryRun,
    applied: r.applied,
    rows: r.rows,
    errorCount: r.errorCount,
    errors: r.errors.map((e) => ({ line: e.line, field: e.field, column: e.field ? (map.headers[e.field] ?? null) : null, value: e.value, code: e.code, message: e.message })),
    warnings: [...r.warnings, ...(extra.has('tax_category') ? [`new products without a tax category get ${taxCode}`] : [])],
    columns: map.headers,
    summary: r.summary,
  }
}
