// Daily accounting vouchers for finance: the account mapping (get, set, check), preview and build of a day's voucher
// (a changed exported day is corrected, never edited), vouchers by date and store with lines and their drill-down,
// export to a finance connection, and the voucher as a CSV or XLSX file. Reading needs finance.export or
// reports.read; changing needs finance.export.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { BusinessDate, IdCursor, uuid } from '../schemas.ts'
import { keysetPage } from '../../db/page.ts'
import type { Context } from 'hono'
import { VoucherRenderError, voucherFile } from '../../connectors/accounting/file/render.ts'
import type { VoucherDocument } from '../../connectors/framework/accounting.ts'
import { ConnectorError } from '../../connectors/framework/http-types.ts'
import { getStore } from '../../core/stores/service.ts'
import { checkMapping, DEFAULT_ACCOUNTS, loadMapping, setAccounts } from '../../core/vouchers/accounts.ts'
import { lineSources } from '../../core/vouchers/drilldown.ts'
import { buildVoucher, exportsOf, getVoucher, listVouchers, previewVoucher, voucherDocumentOf, voucherLinesOf, type VoucherRow } from '../../core/vouchers/service.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import { exportVoucherAs } from '../../jobs/vouchers.ts'
import { invalid, upstream } from '../../lib/errors.ts'
import { addDays, businessDate } from '../../lib/time.ts'
import { getSettings } from '../../core/merchants/settings.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'

const tags = ['Vouchers']
/** Reading: finance staff or whoever reads reports. */
const READ = ['finance.export', 'reports.read'] as const
// A business date in the years a till can have (1900–9998), as everywhere else a request names one.
const Day = BusinessDate().openapi({ example: '2026-11-20' })
const minor = (description = 'Minor units (fen/cents)') => z.number().int().openapi({ description })


const DimensionsSchema = z.partialRecord(z.enum(['department', 'customer', 'supplier', 'employee', 'project']), z.string().min(1).max(60))
const AccountSchema = z.object({ key: z.string(), code: z.string(), name: z.string(), dimensions: z.record(z.string(), z.string()), source: z.enum(['default', 'merchant', 'store']) }).openapi('VoucherAccount')

const LineSchema = z
  .object({
    lineNo: z.number().int(),
    kind: z.string().openapi({ description: 'sale_revenue, sale_vat, refund_revenue, refund_vat, tender, refund_tender, stored_value_spend, topup_*, cash_short, cash_over, cash_paid_in, cash_paid_out, cash_rounding, channel_fee, settlement_adjustment, cogs, remainder' }),
    group: z.record(z.string(), z.union([z.string(), z.number()])),
    accountKey: z.string(),
    accountCode: z.string(),
    accountName: z.string(),
    dimensions: z.record(z.string(), z.string()),
    summary: z.string().openapi({ description: '摘要' }),
    debit: minor(),
    credit: minor(),
  })
  .openapi('VoucherLine')

const ProblemSchema = z.object({ code: z.string(), message: z.string(), key: z.string().optional() })
const ExportSchema = z
  .object({
    connectionId: uuid(),
    status: z.enum(['pending', 'exported', 'duplicate', 'rejected', 'failed']),
    externalId: z.string().nullable(),
    externalNumber: z.string().nullable(),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    rejectReason: z.string().nullable(),
    exportedAt: z.string().nullable(),
  })
  .openapi('VoucherExport')

const VoucherSchema = z
  .object({
    id: uuid(),
    storeId: uuid().nullable(),
    businessDate: z.string(),
    postingDate: z.string(),
    revision: z.number().int(),
    kind: z.enum(['daily', 'reversal', 'difference']),
    status: z.enum(['built', 'exported', 'corrected', 'superseded', 'blocked']),
    reference: z.string(),
    correctsId: uuid().nullable(),
    correctedById: uuid().nullable(),
    word: z.string(),
    currency: z.string(),
    narration: z.string(),
    totalDebit: minor(),
    totalCredit: minor(),
    rounding: minor('What was put on the rounding account to balance (0 when the sources balanced by themselves)'),
    problems: z.array(ProblemSchema),
    createdAt: z.string(),
    exportedAt: z.string().nullable(),
    lines: z.array(LineSchema).optional(),
    exports: z.array(ExportSchema).optional(),
  })
  .openapi('Voucher')

const voucherOut = (v: VoucherRow): z.infer<typeof VoucherSchema> => ({
  id: v.id,
  storeId: v.storeId,
  businessDate: v.businessDate,
  postingDate: v.postingDate,
  revision: v.revision,
  kind: v.kind,
  status: v.status,
  reference: v.reference,
  correctsId: v.correctsId,
  correctedById: v.correctedById,
  word: v.word,
  currency: v.currency,
  narration: v.narration,
  totalDebit: v.totalDebit,
  totalCredit: v.totalCredit,
  rounding: v.rounding,
  problems: v.problems,
  createdAt: v.createdAt.toISOString(),
  exportedAt: v.exportedAt?.toISOString() ?? null,
})

const DayBody = z.object({ date: Day, storeId: uuid().nullable().optional().openapi({ description: 'The store (omit when vouchers are built per merchant)' }) })

const mappingsGet = defineRoute({
  method: 'get',
  path: '/api/v1/vouchers/mappings',
  tags,
  summary: 'The account mapping in force (for a store, with its overrides)',
  description: 'Every key a voucher line posts to, with the account it resolves to and where that comes from (default chart, merchant, store).',
  access: READ,
  request: { query: z.object({ storeId: uuid().optional() }) },
  responses: { 200: json(z.object({ items: z.array(AccountSchema) })) },
})
const mappingsPut = defineRoute({
  method: 'put',
  path: '/api/v1/vouchers/mappings',
  tags,
  summary: 'Set accounts of the mapping (the merchant’s, or a store’s overrides)',
  description: 'Keys: ' + Object.keys(DEFAULT_ACCOUNTS).join(', ') + ', `revenue:<tax category code>`, `vat:<rate in basis points>`, `tender:<kind>`. A `code` of null removes the entry (the default applies again).',
  access: 'finance.export',
  request: {
    body: jsonBody(
      z.object({
        storeId: uuid().nullable().optional(),
        accounts: z.array(z.object({ key: z.string().min(1).max(60), code: z.string().min(1).max(40).nullable(), name: z.string().max(100).default(''), dimensions: DimensionsSchema.optional() })).min(1).max(200),
      }),
    ),
  },
  responses: { 200: json(z.object({ items: z.array(AccountSchema) })) },
})
const mappingsCheck = defineRoute({
  method: 'get',
  path: '/api/v1/vouchers/mappings/check',
  tags,
  summary: 'What the mapping misses for the merchant’s recent activity',
  access: READ,
  request: { query: z.object({ days: z.coerce.number().int().min(1).max(366).default(30) }) },
  responses: {
    200: json(
      z.object({
        ok: z.boolean(),
        missing: z.array(z.object({ key: z.string(), storeId: z.string().nullable(), message: z.string() })),
        defaults: z.array(z.object({ key: z.string(), code: z.string(), name: z.string() })),
        stores: z.array(z.object({ storeId: z.string(), code: z.string() })),
      }),
    ),
  },
})
const preview = defineRoute({
  method: 'post',
  path: '/api/v1/vouchers/preview',
  tags,
  summary: 'Preview a day’s voucher without keeping it',
  access: READ,
  transaction: false,
  request: { body: jsonBody(DayBody) },
  responses: {
    200: json(
      z.object({ businessDate: z.string(), storeId: uuid().nullable(), postingDate: z.string(), word: z.string(), currency: z.string(), lines: z.array(LineSchema), totalDebit: minor(), totalCredit: minor(), rounding: minor(), problems: z.array(ProblemSchema) }),
    ),
  },
})
const build = defineRoute({
  method: 'post',
  path: '/api/v1/vouchers/build',
  tags,
  summary: 'Build a day’s voucher and keep it',
  description: [
    'created: the first build of the day; replaced: an unexported build superseded by a new revision; unchanged; empty: nothing happened that day;',
    'corrected: the day changed after its voucher was exported — a reversal and a new revision, or a difference voucher, per settings.vouchers.correction, posted in the first open period when the day’s is closed.',
    'Vouchers with accounts missing from the mapping are kept as `blocked` with the reasons.',
  ].join(' '),
  access: 'finance.export',
  request: { body: jsonBody(DayBody) },
  responses: { 200: json(z.object({ outcome: z.enum(['created', 'replaced', 'corrected', 'unchanged', 'empty']), voucher: VoucherSchema.nullable(), corrections: z.array(VoucherSchema) })) },
})
const list = defineRoute({
  method: 'get',
  path: '/api/v1/vouchers',
  tags,
  summary: 'Vouchers by business date and store, newest day first',
  access: READ,
  request: {
    query: z.object({
      from: Day.optional(),
      to: Day.optional(),
      date: Day.optional(),
      storeId: uuid().optional(),
      status: z.enum(['built', 'exported', 'corrected', 'superseded', 'blocked']).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      cursor: IdCursor(),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(VoucherSchema), nextCursor: z.string().nullable() })) },
})
const get = defineRoute({ method: 'get', path: '/api/v1/vouchers/{id}', tags, summary: 'One voucher with its lines and deliveries', access: READ, request: { params: IdParam }, responses: { 200: json(VoucherSchema) } })
const sources = defineRoute({
  method: 'get',
  path: '/api/v1/vouchers/{id}/lines/{lineNo}/sources',
  tags,
  summary: 'The source records a voucher line summarises (drill-down)',
  description: 'At most 1,000 records.',
  access: READ,
  request: { params: IdParam.extend({ lineNo: z.coerce.number().int().min(1).openapi({ param: { name: 'lineNo', in: 'path' } }) }) },
  responses: {
    200: json(z.object({ records: z.array(z.object({ type: z.string(), id: z.string(), ref: z.string().nullable(), amount: minor(), detail: z.record(z.string(), z.unknown()) })), total: z.number().int(), truncated: z.boolean() })),
  },
})
const exportRoute = defineRoute({
  method: 'post',
  path: '/api/v1/vouchers/{id}/export',
  tags,
  summary: 'Export a voucher to a finance connection (now, or queued)',
  description:
    'Delivers the voucher under its reference. A voucher already delivered to the connection is not sent again: the answer is the recorded delivery (idempotent re-export). 200 with the delivery; 422 `voucher_rejected` when the target refuses it (an unknown account, a closed period); 502 when the target is unavailable (the attempt is recorded; `queue: true` retries in the background instead).',
  access: 'finance.export',
  transaction: false,
  upstream: 'The finance system',
  request: { params: IdParam, body: jsonBody(z.object({ connectionId: uuid(), queue: z.boolean().default(false) })) },
  responses: { 200: json(z.object({ voucher: VoucherSchema, export: ExportSchema.nullable(), sent: z.boolean(), queued: z.boolean() })) },
})
const file = defineRoute({
  method: 'get',
  path: '/api/v1/vouchers/{id}/file',
  tags,
  summary: 'The voucher as a CSV or XLSX file finance software imports',
  description: 'CSV in GBK by default (what Chinese Excel opens), or UTF-8; layouts generic, kingdee, u8.',
  access: READ,
  request: {
    params: IdParam,
    query: z.object({
      format: z.enum(['csv', 'xlsx']).default('xlsx'),
      encoding: z.enum(['gbk', 'utf8']).default('gbk'),
      layout: z.enum(['generic', 'kingdee', 'u8']).default('generic'),
      accountBook: z.string().min(1).max(40).optional().openapi({ description: 'Kingdee layout: the 账簿 code (FAccountBookID)' }),
    }),
  },
  responses: {
    200: {
      description: 'The file: CSV in the encoding asked for (the U8 layout as text/plain), or XLSX',
      content: {
        'text/csv': { schema: z.string().openapi({ format: 'binary' }) },
        'text/plain': { schema: z.string().openapi({ format: 'binary' }) },
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { schema: z.string().openapi({ format: 'binary' }) },
      },
    },
  },
})

const exportOut = (e: Awaited<ReturnType<typeof exportsOf>>[number]): z.infer<typeof ExportSchema> => ({
  connectionId: e.connectionId,
  status: e.status,
  externalId: e.externalId,
  externalNumber: e.externalNumber,
  attempts: e.attempts,
  lastError: e.lastError,
  rejectReason: e.rejectReason,
  exportedAt: e.exportedAt?.toISOString() ?? null,
})

export function register(app: OpenAPIHono<AppEnv>) {
  const mappingOut = async (c: Context<AppEnv>, storeId: string | null) => {
    if (storeId) await getStore(c.var.db, c.var.principal.merchantId, storeId)
    const mapping = await loadMapping(c.var.db, c.var.principal.merchantId, storeId)
    return [...mapping.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, a]) => ({ key, code: a.code, name: a.name, dimensions: a.dimensions, source: a.source }))
  }
  app.openapi(mappingsGet, async (c) => {
    return c.json({ items: await mappingOut(c, c.req.valid('query').storeId ?? null) }, 200)
  })
  app.openapi(mappingsPut, async (c) => {
    const b = c.req.valid('json')
    await setAccounts(c.var.db, c.var.principal.merchantId, b.storeId ?? null, b.accounts.map((a) => ({ ...a, name: a.name || (DEFAULT_ACCOUNTS[a.key]?.name ?? a.key) })), c.var.hub.clock())
    await recordAudit(c.var.db, c.var.principal, { action: 'vouchers.mapping_set', entityType: 'merchant', entityId: c.var.principal.merchantId, details: { storeId: b.storeId ?? null, accounts: b.accounts } })
    return c.json({ items: await mappingOut(c, b.storeId ?? null) }, 200)
  })
  app.openapi(mappingsCheck, async (c) => {
    const { timeZone } = await getSettings(c.var.db, c.var.principal.merchantId)
    const since = addDays(businessDate(c.var.hub.clock(), timeZone), -c.req.valid('query').days)
    return c.json(await checkMapping(c.var.db, c.var.principal.merchantId, since), 200)
  })
  app.openapi(preview, async (c) => {
    const b = c.req.valid('json')
    const p = await c.var.hub.database.db.transaction((tx) => previewVoucher(tx, { merchantId: c.var.principal.merchantId, storeId: b.storeId ?? null, businessDate: b.date }))
    const { sources: _s, fingerprint: _f, ...out } = p
    return c.json(out, 200)
  })
  app.openapi(build, async (c) => {
    const b = c.req.valid('json')
    const r = await buildVoucher(c.var.db, { merchantId: c.var.principal.merchantId, storeId: b.storeId ?? null, businessDate: b.date }, c.var.hub.clock())
    await recordAudit(c.var.db, c.var.principal, { action: `vouchers.${r.outcome}`, entityType: 'voucher', entityId: r.voucher?.id ?? null, details: { date: b.date, storeId: b.storeId ?? null, corrections: r.corrections.map((x) => x.reference) } })
    return c.json({ outcome: r.outcome, voucher: r.voucher ? voucherOut(r.voucher) : null, corrections: r.corrections.map(voucherOut) }, 200)
  })
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const rows = await listVouchers(c.var.db, c.var.principal.merchantId, { from: q.date ?? q.from, to: q.date ?? q.to, storeId: q.storeId, status: q.status, after: q.cursor, limit: q.limit + 1 })
    const page = keysetPage(rows, q.limit, (v) => v.id)
    return c.json({ items: page.items.map(voucherOut), nextCursor: page.nextCursor }, 200)
  })
  app.openapi(get, async (c) => {
    const v = await getVoucher(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    const lines = await voucherLinesOf(c.var.db, v.id)
    const exports = await exportsOf(c.var.db, v.id)
    return c.json({ ...voucherOut(v), lines: lines.map(({ voucherId: _v, merchantId: _m, ...l }) => l), exports: exports.map(exportOut) }, 200)
  })
  app.openapi(sources, async (c) => {
    const { id, lineNo } = c.req.valid('param')
    return c.json(await lineSources(c.var.db, c.var.principal.merchantId, id, lineNo), 200)
  })
  app.openapi(exportRoute, async (c) => {
    const { id } = c.req.valid('param')
    const { connectionId, queue } = c.req.valid('json')
    const hub = c.var.hub
    const merchantId = c.var.principal.merchantId
    const r = await exportVoucherAs(hub, c.var.principal, { voucherId: id, connectionId }, { queue: queue ?? false, via: 'api', signal: c.req.raw.signal })
    if (r.queued) return c.json({ voucher: voucherOut(await getVoucher(hub.database.db, merchantId, id)), export: null, sent: false, queued: true }, 200)
    if ('failed' in r) throw upstream('target_unavailable', `the finance system did not take the voucher: ${r.failed.row?.lastError ?? r.failed.error.kind}`, { kind: r.failed.error.kind })
    const { row, sent } = r.attempt
    if (row.status === 'rejected') throw invalid('voucher_rejected', `the finance system refused the voucher: ${row.lastError}`, { reason: row.rejectReason })
    return c.json({ voucher: voucherOut(await getVoucher(hub.database.db, merchantId, id)), export: exportOut(row), sent, queued: false }, 200)
  })
  app.openapi(file, async (c) => {
    const { id } = c.req.valid('param')
    const q = c.req.valid('query')
    const { document } = await voucherDocumentOf(c.var.db, c.var.principal.merchantId, id)
    const opts = { encoding: q.encoding, layout: q.layout, ...(q.accountBook ? { kingdee: { accountBook: q.accountBook } } : {}) }
    const doc = document as VoucherDocument
    let file: Awaited<ReturnType<typeof voucherFile>>
    try {
      // Named and typed as the dashboard and the mail give it.
      file = await voucherFile(doc, q.format, opts)
    } catch (e) {
      if (e instanceof VoucherRenderError) throw invalid(e.code, e.message)
      throw e
    }
    return c.body(new Uint8Array(file.bytes), 200, { 'content-type': file.contentType, 'content-disposition': `attachment; filename="${file.filename}"` })
  })
}
