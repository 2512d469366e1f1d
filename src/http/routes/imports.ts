// Moving over from another POS: POST /api/v1/imports/{catalog|members|stock} takes that POS's CSV or XLSX export
// (the file as the body, like the catalog import, or as the `file` field of a multipart form), with a dry run that
// reports every bad row by line, and an all-or-nothing import. The logic is in src/core/imports.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { unsupportedMediaType } from '../errors.ts'
import { MEDIA_TYPES } from '../../core/catalog/catalog-file.ts'
import { CATALOG_HEADERS, MEMBER_HEADERS, STOCK_HEADERS, type ImportKind } from '../../core/imports/headers.ts'
import type { PosImportReport } from '../../core/imports/report.ts'
import { runImport } from '../../core/imports/service.ts'
import { storeByCode } from '../../core/imports/stock.ts'
import { readTable } from '../../core/imports/table.ts'
import type { Permission } from '../../core/staff/permissions.ts'
import { badRequest, invalid } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json } from '../route.ts'
import { readForm } from '../form.ts'

const tags = ['Imports']
const IMPORT_LIMIT = 20 * 1024 * 1024

const ProblemSchema = z
  .object({
    line: z.number().int().openapi({ description: 'Line of the file (the header is line 1 of a plain file)' }),
    field: z.string().nullable().openapi({ description: 'Our name of the column', example: 'card_no' }),
    column: z.string().nullable().openapi({ description: 'The header as the file wrote it', example: '会员卡号' }),
    value: z.string().nullable(),
    code: z.string().openapi({ example: 'duplicate_card_no' }),
    message: z.string(),
  })
  .openapi('ImportProblem')

export const PosImportReportSchema = z
  .object({
    kind: z.enum(['catalog', 'members', 'stock']),
    format: z.enum(['csv', 'xlsx']),
    source: z.string(),
    dryRun: z.boolean(),
    applied: z.boolean().openapi({ description: 'Whether the import was written (never for a dry run or a file with problems)' }),
    rows: z.number().int().openapi({ description: 'Data rows read (blank rows are skipped)' }),
    errorCount: z.number().int(),
    errors: z.array(ProblemSchema).openapi({ description: 'Every problem, by line' }),
    warnings: z.array(z.string()),
    columns: z.record(z.string(), z.string()).openapi({ description: 'Our column → the header of the file it was read from' }),
    summary: z.record(z.string(), z.unknown()).openapi({
      description:
        'catalog: products/variants created, updated, unchanged and categories created. members: created, existing (skipped), opening points, storedValue and storedBonus (minor units), tiersSet, existingMembers. stock: alreadyImported, receiptKey, lines, skippedZero, quantity, value (minor units at cost), locations.',
    }),
  })
  .openapi('PosImportReport')

const headerList = (table: Record<string, string[]>) =>
  Object.entries(table)
    .map(([field, names]) => `\`${field}\`: ${names.join(', ')}`)
    .join('; ')

const KINDS: Record<ImportKind, { access: Permission; summary: string; description: string }> = {
  catalog: {
    access: 'catalog.manage',
    summary: "Import another POS's product list",
    description: [
      'Rows are products (one per SKU) under the catalog spreadsheet columns or their usual names elsewhere. A row without a SKU takes its first barcode as SKU; units like 个/件/瓶 are pieces, kg/公斤/斤 grams priced per 1000/500 g; 上架/下架 set the shelf state; a new product without a tax category gets `taxCategory` (default standard). Existing SKUs are updated, so importing the same file again changes nothing.',
      `Headers understood: ${headerList(CATALOG_HEADERS)}.`,
    ].join('\n\n'),
  },
  members: {
    access: 'members.manage',
    summary: "Import another POS's members with their opening points and stored value",
    description: [
      'One row per member: the phone is required (normalised like at the till); the card number the member carries is kept; the tier is matched by name or code; points and stored value (principal, bonus) become opening balances through the points and stored-value ledgers with the reason "opening balance from <source>" (which needs points.adjust and stored_value.adjust); consents are recorded with source import. A member that exists already (same card number, else same phone) is reported and skipped, so importing the same file again creates nobody twice.',
      `Headers understood: ${headerList(MEMBER_HEADERS)}.`,
    ].join('\n\n'),
  },
  stock: {
    access: 'stock.receive',
    summary: "Import another POS's stock quantities as opening stock of a store",
    description: [
      'Needs `store`. One row per item and location: sku or barcode, the location by name (blank: the store’s sale location), the quantity in the product’s base unit, and optionally the unit cost (default: the product’s cost). Quantities are received on the stock ledger with the reason "opening balance from <source>". The same opening stock again (the same items, locations and quantities, in any order or format) is recognised by its key and not received twice.',
      `Headers understood: ${headerList(STOCK_HEADERS)}.`,
    ].join('\n\n'),
  },
}

const Query = z.object({
  format: z.enum(['auto', 'csv', 'xlsx']).default('auto').openapi({ description: 'auto tells an XLSX workbook from a CSV by its first bytes' }),
  dryRun: z.enum(['true', 'false', '1', '0']).default('false'),
  store: z.string().trim().min(1).max(32).optional().openapi({ description: 'Store code: the home store of imported members; the store opening stock goes to (required for stock)' }),
  source: z.string().trim().min(1).max(60).default('import').openapi({ description: 'The system the data comes from, named in the reason of opening balances', example: '银豹' }),
  taxCategory: z.string().trim().min(1).max(64).optional().openapi({ description: 'Catalog: tax category code for new products without one (default standard)' }),
})

const binary = z.string().openapi({ format: 'binary' })
const MULTIPART = { type: 'object' as const, properties: { file: { type: 'string' as const, format: 'binary' } }, required: ['file'] }

const routeOf = (kind: ImportKind) =>
  defineRoute({
    method: 'post',
    path: `/api/v1/imports/${kind}`,
    tags,
    summary: KINDS[kind].summary,
    description: [
      KINDS[kind].description,
      'The body is the file itself (text/csv, the XLSX media type or application/octet-stream) or a multipart/form-data form with the file in `file`. A dry run checks every row and reports what the import would do, writing nothing. An import with any bad row answers 422 `import_invalid` with the same report in `error.details` and writes nothing; otherwise everything is written in one transaction.',
    ].join('\n\n'),
    access: KINDS[kind].access,
    bodyLimit: IMPORT_LIMIT,
    request: {
      query: Query,
      body: {
        content: {
          [MEDIA_TYPES.csv]: { schema: z.string() },
          [MEDIA_TYPES.xlsx]: { schema: binary },
          'application/octet-stream': { schema: binary },
          'multipart/form-data': { schema: MULTIPART },
        },
      },
    },
    responses: { 200: json(PosImportReportSchema, 'The report (a dry run, or an import that was written)') },
  })

const RAW_TYPES = new Set([MEDIA_TYPES.csv, MEDIA_TYPES.xlsx, 'application/octet-stream', 'application/csv', 'text/plain', 'text/tab-separated-values', 'application/vnd.ms-excel'])

/** The uploaded file: the body itself, or the `file` field of a multipart form. */
async function uploadedFile(c: Context<AppEnv>): Promise<Uint8Array> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  let bytes: Uint8Array
  if (type === 'multipart/form-data') {
    const form = await readForm(c)
    const file = form.file
    if (!(file instanceof File)) throw badRequest('invalid_file', 'send the file in the "file" field of the form')
    bytes = new Uint8Array(await file.arrayBuffer())
  } else if (RAW_TYPES.has(type)) {
    bytes = new Uint8Array(await c.req.arrayBuffer())
  } else {
    throw unsupportedMediaType(`${MEDIA_TYPES.csv}, ${MEDIA_TYPES.xlsx} or multipart/form-data`, type)
  }
  if (bytes.byteLength === 0) throw badRequest('invalid_file', 'the file is empty: send the file itself')
  return bytes
}

const plain = (r: PosImportReport) => ({ ...r, summary: r.summary as Record<string, unknown> })

export function register(app: OpenAPIHono<AppEnv>) {
  for (const kind of ['catalog', 'members', 'stock'] as const) {
    app.openapi(routeOf(kind), async (c) => {
      const q = c.req.valid('query')
      const actor = c.var.principal
      const dryRun = q.dryRun === 'true' || q.dryRun === '1'
      if (kind === 'stock' && !q.store) throw badRequest('store_required', 'opening stock goes to a store: give its code as ?store=')
      const table = await readTable(await uploadedFile(c), q.format)
      const storeId = q.store ? await storeByCode(c.var.db, actor.merchantId, q.store) : null
      const report = await runImport(c.var.db, actor, kind, table, { dryRun, source: q.source, storeId, taxCategory: q.taxCategory, now: c.var.hub.clock() })
      if (!dryRun && report.errorCount > 0) {
        throw invalid('import_invalid', `${report.errorCount} problem${report.errorCount === 1 ? '' : 's'} in the file; nothing was imported`, plain(report))
      }
      return c.json(plain(report), 200)
    })
  }
}
