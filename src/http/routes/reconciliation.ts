// Settlement reconciliation for finance: upload and download statements, run a day, list and resolve exceptions,
// and the daily summary per connection, day and store, each list also as a CSV or XLSX file. Reading needs
// finance.export or reports.read; changing needs finance.export.
import { pipeline } from 'node:stream/promises'
import busboy, { type Busboy } from 'busboy'
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { uuid } from '../schemas.ts'
import type { Context } from 'hono'
import { getSettings } from '../../core/merchants/settings.ts'
import { exceptionsTable, summaryTable, tableFile } from '../../core/reconciliation/export.ts'
import { contentOnDisk, type StatementContent } from '../../core/reconciliation/file.ts'
import { OUTCOMES, PREVIEW_LIMIT, type RunSummary } from '../../core/reconciliation/match.ts'
import { dailySummary, exportExceptions, getItem, getRun, getStatement, getStatementFile, listExceptions, listRuns, listStatements, type ItemView, type RunRow, type StatementRow } from '../../core/reconciliation/queries.ts'
import { reopenItem, type ReconItem } from '../../core/reconciliation/resolve.ts'
import { resolveRequest } from '../../core/reconciliation/resolve-approval.ts'
import { actOrHold } from '../../core/staff/approvals.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import { importFile, previewConnectionDay, previewFile, reconcileConnectionDay } from '../../jobs/reconciliation.ts'
import { badRequest, invalid } from '../../lib/errors.ts'
import { spool, spoolDir, type Spooled } from '../../lib/spool.ts'
import { businessDate, isDate } from '../../lib/time.ts'
import type { AppEnv } from '../env.ts'
import { fileLocale } from '../locale.ts'
import { defineRoute, IdParam, json, jsonBody, limitedBody } from '../route.ts'
import { held, HeldResponse } from './approvals.ts'

const tags = ['Reconciliation']
/** Reading: finance staff or whoever reads reports. */
const READ = ['finance.export', 'reports.read'] as const
const minor = (description = 'Minor units (fen/cents)') => z.number().int().openapi({ description })
const milli = (description: string) => z.number().int().openapi({ description: `${description}, in thousandths of a minor unit` })
const Day = z.string().refine(isDate, 'must be a date YYYY-MM-DD').openapi({ example: '2026-03-14' })
const binary = { type: 'string', format: 'binary' } as const
/** Largest statement file accepted by upload. */
export const STATEMENT_UPLOAD_LIMIT = 200 * 1024 * 1024

const StatementSchema = z
  .object({
    id: uuid(),
    connectionId: uuid(),
    format: z.string(),
    businessDate: z.string(),
    source: z.enum(['fetched', 'uploaded']),
    fileName: z.string().nullable(),
    fileSha256: z.string(),
    sizeBytes: z.number().int(),
    status: z.enum(['imported', 'rejected', 'superseded', 'empty']),
    rejectReason: z.string().nullable(),
    lineCount: z.number().int(),
    controlTotals: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'The file’s own control totals (`file`), ours over its rows (`ours`), lines dated outside the day' }),
    createdBy: uuid().nullable(),
    createdAt: z.string(),
    fileUrl: z.string().openapi({ description: 'Where the original file downloads' }),
  })
  .openapi('SettlementStatement')

const statementOut = (s: StatementRow): z.infer<typeof StatementSchema> => ({
  id: s.id,
  connectionId: s.connectionId,
  format: s.format,
  businessDate: s.businessDate,
  source: s.source as 'fetched',
  fileName: s.fileName,
  fileSha256: s.fileSha256,
  sizeBytes: s.sizeBytes,
  status: s.status as 'imported',
  rejectReason: s.rejectReason,
  lineCount: s.lineCount,
  controlTotals: s.controlTotals ?? null,
  createdBy: s.createdBy,
  createdAt: s.createdAt.toISOString(),
  fileUrl: `/api/v1/reconciliation/statements/${s.id}/file`,
})

const RunSchema = z
  .object({
    id: uuid(),
    connectionId: uuid(),
    businessDate: z.string(),
    status: z.enum(['balanced', 'exceptions', 'not_ready', 'fetch_failed', 'running']),
    statementIds: z.array(uuid()),
    counts: z.record(z.string(), z.number()).openapi({ description: 'Items per outcome, plus open and open_exceptions (open without timing)' }),
    totals: z.record(z.string(), z.number()).openapi({ description: 'Both sides of the day in minor units: pos_payments, pos_refunds, channel_payments, channel_refunds, difference, fees…' }),
    error: z.string().nullable(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi('ReconRun')

const runOut = (r: RunRow): z.infer<typeof RunSchema> => ({
  id: r.id,
  connectionId: r.connectionId,
  businessDate: r.businessDate,
  status: r.status as 'balanced',
  statementIds: r.statementIds,
  counts: r.counts,
  totals: r.totals,
  error: r.error,
  startedAt: r.startedAt.toISOString(),
  finishedAt: r.finishedAt?.toISOString() ?? null,
})

const Outcome = z.enum(OUTCOMES)
const ItemSchema = z
  .object({
    id: uuid(),
    connectionId: uuid(),
    businessDate: z.string(),
    runId: uuid(),
    outcome: Outcome,
    state: z.enum(['auto', 'open', 'resolved']),
    manual: z.boolean().openapi({ description: 'Resolved by a person: re-runs keep it' }),
    storeId: uuid().nullable(),
    storeCode: z.string().nullable(),
    currency: z.string(),
    posKind: z.string().nullable().openapi({ description: 'sale_tender, refund_tender, topup_tender, topup_refund_tender; payout for a payout checked against its lines' }),
    posId: uuid().nullable(),
    posRef: z.string().nullable().openapi({ description: 'Our payment or refund number (or the channel line’s reference when the till has none)' }),
    posAmount: minor().nullable(),
    channelAmount: minor().nullable(),
    difference: minor('Channel amount less till amount'),
    expectedFeeMilli: milli('The contract’s fee, rounded the channel’s way').nullable(),
    channelFeeMilli: milli('The channel’s fee').nullable(),
    carriedDays: z.number().int(),
    ageDays: z.number().int(),
    line: z
      .object({
        id: z.number().int(),
        kind: z.string(),
        statementId: uuid(),
        lineNo: z.number().int(),
        ourRef: z.string().nullable(),
        channelTxnId: z.string().nullable(),
        channelRefundId: z.string().nullable(),
        status: z.string(),
        occurredAt: z.string(),
        rrn: z.string().nullable(),
        terminalRef: z.string().nullable(),
      })
      .nullable(),
    suggestion: z
      .object({ counterpartItemId: uuid(), by: z.string(), lineId: z.number().int().optional(), posId: uuid().optional() })
      .nullable()
      .openapi({ description: 'A pair card data suggests (RRN, voucher, terminal and time): confirm it with the match action' }),
    resolution: z.string().nullable(),
    resolutionNote: z.string().nullable(),
    resolvedBy: uuid().nullable(),
    resolvedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('ReconItem')

const itemOut = (i: ItemView): z.infer<typeof ItemSchema> => ({
  ...i,
  outcome: i.outcome as z.infer<typeof Outcome>,
  state: i.state as 'open',
  line: i.line ? { ...i.line, occurredAt: i.line.occurredAt.toISOString() } : null,
  resolvedAt: i.resolvedAt?.toISOString() ?? null,
  createdAt: i.createdAt.toISOString(),
  updatedAt: i.updatedAt.toISOString(),
})

const HistorySchema = z.object({ id: z.number().int(), action: z.string(), actorId: uuid().nullable(), details: z.record(z.string(), z.unknown()), createdAt: z.string() })

const SummarySchema = z
  .object({
    connectionId: uuid(),
    businessDate: z.string(),
    storeId: uuid().nullable(),
    storeCode: z.string().nullable(),
    terminal: z.string().nullable().optional().openapi({ description: 'With by=terminal: the card terminal (null: none named)' }),
    currency: z.string().nullable(),
    runStatus: z.string().nullable().openapi({ description: 'The day’s chip: balanced, exceptions, not_ready, fetch_failed (null: not run yet)' }),
    runId: uuid().nullable(),
    posCount: z.number().int(),
    posAmount: minor('Payments less refunds at the till on this day (a payment the channel settles the next day counts here, on the till’s day)'),
    channelCount: z.number().int(),
    channelAmount: minor('Payments less refunds in the channel’s lines of this day (a payment it revoked nets to nothing)'),
    difference: minor('channelAmount − posAmount'),
    channelFeeMilli: milli('Fees the channel charged'),
    expectedFeeMilli: milli('Fees the contract says'),
    feeDifferenceMilli: milli('Δ fee: Σ (channel’s fee − contract’s fee) over the items whose fee was checked; null when none was (the connection has no contracted rate)').nullable(),
    matched: z.number().int().openapi({ description: 'Items of this day (an item is dated the later of its two sides’ days)' }),
    timing: z.number().int(),
    openExceptions: z.number().int(),
    resolved: z.number().int(),
    openByAge: z.object({ '0-1': z.number().int(), '2-3': z.number().int(), '4-7': z.number().int(), '8+': z.number().int() }),
  })
  .openapi('ReconSummaryRow')

const ExportFormat = z.enum(['csv', 'xlsx']).default('csv')
const fileResponse = { 200: { description: 'The file', content: { 'text/csv': { schema: z.string() }, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { schema: z.string().openapi({ format: 'binary' }) } } } }

const ExceptionQuery = z.object({
  connectionId: uuid().optional(),
  from: Day.optional(),
  to: Day.optional(),
  outcome: z
    .string()
    .optional()
    .openapi({ description: 'Comma-separated outcomes (timing is left out unless named)' })
    .refine((v) => v === undefined || v.split(',').every((o) => (OUTCOMES as readonly string[]).includes(o.trim())), `outcomes are ${OUTCOMES.join(', ')}`),
  state: z.enum(['open', 'resolved', 'all']).default('open'),
  storeId: uuid().optional(),
  minAgeDays: z.coerce.number().int().min(0).max(3650).optional(),
  maxAgeDays: z.coerce.number().int().min(0).max(3650).optional(),
})

const SummaryQuery = z.object({
  from: Day,
  to: Day,
  connectionId: uuid().optional(),
  storeId: uuid().optional(),
  by: z.enum(['store', 'terminal']).default('store').openapi({ description: 'store: a row per connection, day and store; terminal: also per card terminal (the channel line’s 终端号, else the one the till kept on the tender)' }),
})

// ─── Routes ─────────────────────────────────────────────────────────────────────────────────────────────────────

const upload = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/statements',
  tags,
  summary: 'Upload a settlement statement file and import it',
  description: [
    'The body is the file itself (any Content-Type; `connectionId`, `date` and optionally `format` and `fileName` in the query), or multipart/form-data with a `file` part and the same fields. Up to 200 MiB; the file, sent either way, is written to disk as it arrives and imported from there as a stream, never held whole.',
    'The file is parsed by the connection’s connector, checked against its own control totals, and imported whole or not at all. 201: imported (superseding an earlier file of the day), and the day is queued for reconciliation; 200: the same file was imported before; 422 `statement_rejected`: refused, with the reason (the refused file is kept and listed). The same file is recognised by its SHA-256, so a repeated upload is harmless.',
  ].join('\n\n'),
  access: 'finance.export',
  transaction: false,
  bodyLimit: STATEMENT_UPLOAD_LIMIT,
  streamsBody: true,
  request: {
    query: z.object({ connectionId: uuid().optional(), date: Day.optional(), format: z.string().min(1).max(40).optional(), fileName: z.string().min(1).max(200).optional() }),
    body: {
      content: {
        'application/octet-stream': { schema: binary },
        'multipart/form-data': { schema: { type: 'object', properties: { file: binary, connectionId: { type: 'string' }, date: { type: 'string' }, format: { type: 'string' } }, required: ['file'] } },
      },
    },
  },
  responses: {
    201: json(z.object({ result: z.enum(['imported']), statement: StatementSchema, superseded: z.array(uuid()) }), 'Imported'),
    200: json(z.object({ result: z.enum(['duplicate']), statement: StatementSchema, superseded: z.array(uuid()) }), 'The same file was imported before'),
  },
})

const listStatementsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/statements',
  tags,
  summary: 'Statements received, newest first',
  access: READ,
  request: {
    query: z.object({
      connectionId: uuid().optional(),
      from: Day.optional(),
      to: Day.optional(),
      status: z.enum(['imported', 'rejected', 'superseded', 'empty']).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(100).optional(),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(StatementSchema), nextCursor: z.string().nullable() })) },
})

const getStatementRoute = defineRoute({ method: 'get', path: '/api/v1/reconciliation/statements/{id}', tags, summary: 'One statement', access: READ, request: { params: IdParam }, responses: { 200: json(StatementSchema) } })

const downloadRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/statements/{id}/file',
  tags,
  summary: 'Download the original statement file as received',
  access: READ,
  request: { params: IdParam },
  responses: { 200: { description: 'The file, with the media type it was received with (text/csv, application/gzip, application/zip, a spreadsheet…)', content: { '*/*': { schema: z.string().openapi({ format: 'binary' }) } } } },
})

const listRunsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/runs',
  tags,
  summary: 'Reconciliation runs per connection and day, newest first',
  access: READ,
  request: {
    query: z.object({
      connectionId: uuid().optional(),
      date: Day.optional(),
      from: Day.optional(),
      to: Day.optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(100).optional(),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(RunSchema), nextCursor: z.string().nullable() })) },
})

const runNow = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/runs',
  tags,
  summary: 'Reconcile a connection’s day now',
  description:
    'Matches the day’s current statement against the till. Automatic results are replaced, resolutions kept; with the same statements, no item changed and the same status, counts and totals (a resolution by hand changes them) the last run is returned (`reused: true`). Totals count the whole day, the tenders and lines of items resolved by hand included. 409 `no_statement` when the day has no statement yet.',
  access: 'finance.export',
  transaction: false,
  request: { body: jsonBody(z.object({ connectionId: uuid(), date: Day }).strict()) },
  responses: { 200: json(RunSchema.extend({ reused: z.boolean(), changes: z.object({ created: z.number().int(), changed: z.number().int(), removed: z.number().int() }) })) },
})

const PreviewExceptionSchema = z
  .object({
    outcome: z.string(),
    isNew: z.boolean().openapi({ description: 'False when the item exists already (the run keeps or reclassifies it)' }),
    businessDate: z.string(),
    posKind: z.string().nullable(),
    posId: uuid().nullable(),
    posRef: z.string().nullable(),
    lineId: z.number().int().nullable(),
    currency: z.string(),
    posAmount: z.number().int().nullable(),
    channelAmount: z.number().int().nullable(),
    difference: z.number().int(),
  })
  .openapi('ReconPreviewException')

const RunPreviewSchema = z
  .object({
    dryRun: z.literal(true),
    connectionId: uuid(),
    businessDate: z.string(),
    status: z.enum(['balanced', 'exceptions']),
    statementIds: z.array(uuid()),
    counts: z.record(z.string(), z.number()),
    totals: z.record(z.string(), z.number()),
    changes: z.object({ created: z.number().int(), changed: z.number().int(), removed: z.number().int() }),
    exceptions: z.array(PreviewExceptionSchema),
    exceptionsTruncated: z.boolean(),
  })
  .openapi('ReconRunPreview')

const previewRoute = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/runs/dry-run',
  tags,
  summary: 'What reconciling a connection’s day would do, without doing it',
  description: `The day is worked out exactly as POST /runs would, then rolled back: no item, run or event is written. The answer has the counts and totals the run would record, how many items it would create, change and remove, and the open exceptions it would leave (the first ${PREVIEW_LIMIT}, by outcome and amount). 409 \`no_statement\` when the day has no statement yet.`,
  access: 'finance.export',
  transaction: false,
  request: { body: jsonBody(z.object({ connectionId: uuid(), date: Day }).strict()) },
  responses: { 200: json(RunPreviewSchema) },
})

const previewUploadRoute = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/statements/dry-run',
  tags,
  summary: 'What uploading a statement file would do, without doing it',
  description: [
    'The same body as POST /statements (the file itself with `connectionId`, `date`, optionally `format` in the query, or a multipart form).',
    'The file is parsed, checked and imported, and its day reconciled, exactly as an upload and its run would, in one transaction that is then rolled back: no statement (not even a refused one), line, item, run or job is written. `file.result` is `would_import` (the lines it holds and the statements it would supersede), `duplicate` (the same file is the day’s statement already) or `rejected` (the reason and line, as an upload would be refused). `run` is the day’s run as POST /runs/dry-run describes it, with the file current; null for a refused file.',
  ].join('\n\n'),
  access: 'finance.export',
  transaction: false,
  bodyLimit: STATEMENT_UPLOAD_LIMIT,
  streamsBody: true,
  request: upload.request,
  responses: {
    200: json(
      z
        .object({
          dryRun: z.literal(true),
          connectionId: uuid(),
          businessDate: z.string(),
          file: z.object({
            result: z.enum(['would_import', 'duplicate', 'rejected']),
            format: z.string(),
            lineCount: z.number().int().optional(),
            supersedes: z.array(uuid()).optional().openapi({ description: 'The statements of the day it would supersede' }),
            statementId: uuid().optional().openapi({ description: 'duplicate: the statement it is' }),
            code: z.string().optional().openapi({ description: 'rejected: hash_mismatch, control_totals_mismatch or format_error' }),
            reason: z.string().optional(),
            lineNo: z.number().int().nullable().optional(),
          }),
          run: RunPreviewSchema.omit({ dryRun: true, connectionId: true, businessDate: true }).nullable(),
        })
        .openapi('ReconFilePreview'),
      'What the file would do',
    ),
  },
})

const listExceptionsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/exceptions',
  tags,
  summary: 'Exceptions: every item that is not a plain match, newest day first',
  description: 'Open ones by default. Age counts days from the item’s business date to today in the merchant’s time zone.',
  access: READ,
  request: { query: ExceptionQuery.extend({ limit: z.coerce.number().int().min(1).max(200).default(50), cursor: z.string().max(200).optional() }) },
  responses: { 200: json(z.object({ items: z.array(ItemSchema), nextCursor: z.string().nullable() })) },
})

const exportExceptionsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/exceptions/export',
  tags,
  summary: 'Exceptions as a CSV or XLSX file (the same filters as the list)',
  access: READ,
  request: { query: ExceptionQuery.extend({ format: ExportFormat }) },
  responses: fileResponse,
})

const getItemRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/items/{id}',
  tags,
  summary: 'One item with its history',
  access: READ,
  request: { params: IdParam },
  responses: { 200: json(ItemSchema.extend({ history: z.array(HistorySchema) })) },
})

const Note = z.string().trim().max(2000).optional()
const ResolveBody = z.discriminatedUnion('action', [
  z.object({ action: z.literal('match'), counterpartId: uuid().openapi({ description: 'The open item of the other side' }), note: Note }).strict(),
  z
    .object({
      action: z.literal('accept_channel'),
      note: Note,
      storeId: uuid().optional().openapi({ description: 'For an item of no store (a line only the channel has) when vouchers are per store: the store whose books take it' }),
    })
    .strict(),
  z.object({ action: z.literal('accept_pos'), note: Note }).strict(),
  z.object({ action: z.literal('write_off'), accountCode: z.string().trim().min(1).max(40), note: Note }).strict(),
  z.object({ action: z.literal('expect_next_day'), note: Note }).strict(),
  z.object({ action: z.literal('ignore'), reason: z.string().trim().min(1).max(2000) }).strict(),
])

const resolveRoute = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/items/{id}/resolve',
  tags,
  summary: 'Resolve an exception',
  description:
    'match: pair with the open item of the other side; accept_channel: the channel is right (the difference is booked as a correcting record on the day, which the daily voucher takes up, and announced as settlement.adjusted; reopening books the reversal; an item of no store names the store whose books take it, storeId, when vouchers are per store); accept_pos: the till is right; write_off: to an account; expect_next_day: the next run checks it again; ignore: with a reason. Resolved items survive re-runs. Held for approval (202) when it settles more than the merchant’s approvals.reconResolutionAbove (an item’s absolute difference, a one-sided item’s amount, the larger of a hand match’s two) and the caller may not decide approvals; expect_next_day is never held. Approved, it runs as its requester with the manager on the item’s history, and fails (item_changed, item_not_open) if the item was resolved or reclassified by a re-run meanwhile.',
  access: 'finance.export',
  request: { params: IdParam, body: jsonBody(ResolveBody) },
  responses: { 200: json(ItemSchema.extend({ history: z.array(HistorySchema) })), 202: HeldResponse },
})

const reopenRoute = defineRoute({
  method: 'post',
  path: '/api/v1/reconciliation/items/{id}/reopen',
  tags,
  summary: 'Reopen a resolved item (a hand match is split again)',
  access: 'finance.export',
  request: { params: IdParam, body: jsonBody(z.object({ note: Note }).strict()) },
  responses: { 200: json(ItemSchema.extend({ history: z.array(HistorySchema) })) },
})

const summaryRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/summary',
  tags,
  summary: 'Daily summary per connection, day and store: both sides, the difference, fees, open exceptions by age',
  access: READ,
  request: { query: SummaryQuery },
  responses: { 200: json(z.object({ today: z.string(), items: z.array(SummarySchema) })) },
})

const summaryExportRoute = defineRoute({
  method: 'get',
  path: '/api/v1/reconciliation/summary/export',
  tags,
  summary: 'The daily summary as a CSV or XLSX file',
  access: READ,
  request: { query: SummaryQuery.extend({ format: ExportFormat }) },
  responses: fileResponse,
})

// ─── Handlers ───────────────────────────────────────────────────────────────────────────────────────────────────


async function today(c: Context<AppEnv>): Promise<string> {
  const settings = await getSettings(c.var.db, c.var.principal.merchantId)
  return businessDate(c.var.hub.clock(), settings.timeZone)
}

function checkRange(from?: string, to?: string) {
  if (from && to && from > to) throw badRequest('invalid_range', '`from` is after `to`')
}

const outcomesOf = (v?: string) => (v ? v.split(',').map((o) => o.trim()) : undefined)

interface Upload {
  content: StatementContent
  fields: Record<string, string | undefined>
  fileName?: string
  contentType: string
  /** Removes what the upload left on disk; called once the import is done, whatever its outcome. */
  discard(): Promise<void>
}

/**
 * The uploaded file, written to a file of its own under the data directory as it arrives and imported from there as a
 * stream, so that a statement of any size is never held whole: the request body itself, or the `file` part of a
 * multipart form (its other fields are read as they come; parts of other names are skipped).
 */
async function readUpload(c: Context<AppEnv>): Promise<Upload> {
  const type = c.req.header('content-type') ?? ''
  const dir = spoolDir(c.var.hub.config.dataDir, 'uploads')
  const source = limitedBody(c, STATEMENT_UPLOAD_LIMIT)
  if (!type.toLowerCase().startsWith('multipart/form-data')) {
    const spooled = await spool(source, dir)
    return { content: contentOnDisk(spooled.path), fields: {}, contentType: type.split(';')[0]!.trim().toLowerCase() || 'application/octet-stream', discard: spooled.discard }
  }
  let form: Busboy
  try {
    // Browsers send a file name in UTF-8 as it is; busboy's default would read it as Latin-1.
    form = busboy({ headers: { 'content-type': type }, defParamCharset: 'utf8', limits: { fields: 20, fieldSize: 4096 } })
  } catch (e) {
    throw badRequest('invalid_multipart', `the multipart body cannot be read: ${e instanceof Error ? e.message : String(e)}`)
  }
  const fields: Record<string, string> = {}
  let file: { saved: Promise<Spooled | undefined>; name: string | undefined; type: string } | undefined
  let broken: unknown
  form.on('field', (name, value) => {
    fields[name] = value
  })
  form.on('file', (name, stream, info) => {
    if (name !== 'file' || file) {
      stream.resume()
      return
    }
    const saved = spool(stream, dir).catch((e) => {
      broken ??= e
      return undefined
    })
    file = { saved, name: info.filename || undefined, type: info.mimeType || 'application/octet-stream' }
  })
  // A failure of the body itself (over the size limit, the client gone) is passed on as it is; anything else is a
  // malformed form.
  let unread: unknown
  source.once('error', (e) => {
    unread = e
  })
  try {
    await pipeline(source, form)
  } catch (e) {
    broken ??= e
  }
  const saved = await file?.saved
  if (broken !== undefined || unread !== undefined) {
    await saved?.discard()
    if (unread !== undefined) throw unread
    throw badRequest('invalid_multipart', `the multipart body cannot be read: ${broken instanceof Error ? broken.message : String(broken)}`)
  }
  if (!saved) throw badRequest('file_required', 'send the statement as the `file` part of the form')
  return {
    content: contentOnDisk(saved.path),
    fields: { connectionId: fields.connectionId, date: fields.date, format: fields.format },
    fileName: file!.name,
    contentType: file!.type,
    discard: saved.discard,
  }
}

const itemWithHistory = async (c: Context<AppEnv>, item: ReconItem) => {
  const v = await getItem(c.var.db, c.var.principal.merchantId, item.id, await today(c))
  return { ...itemOut(v), history: v.history.map((h) => ({ ...h, createdAt: h.createdAt.toISOString() })) }
}

type UploadQuery = { connectionId?: string; date?: string; format?: string; fileName?: string }

/** The import an upload asks for: its connection, day and format (form fields first, else the query), checked. */
function uploadedFile(c: Context<AppEnv>, q: UploadQuery, got: Upload) {
  const connectionId = got.fields.connectionId ?? q.connectionId
  const date = got.fields.date ?? q.date
  const format = got.fields.format ?? q.format
  if (!connectionId || !uuid().safeParse(connectionId).success) throw badRequest('validation_failed', 'invalid request: connectionId: give the connection (a UUID)')
  if (!date || !isDate(date)) throw badRequest('validation_failed', 'invalid request: date: give the business date as YYYY-MM-DD')
  if (format !== undefined && !/^[a-z][a-z0-9_]{0,39}$/.test(format)) throw badRequest('validation_failed', 'invalid request: format: lower-case letters, digits and _')
  if (got.content.size === 0) throw badRequest('empty_file', 'the file is empty: send the statement itself')
  return {
    merchantId: c.var.principal.merchantId,
    connectionId,
    businessDate: date,
    format,
    fileName: got.fileName ?? q.fileName ?? null,
    content: got.content,
    contentType: got.contentType,
    source: 'uploaded' as const,
    createdBy: c.var.principal.id,
  }
}

/** Reads the upload of the request, hands it to `fn` and removes what was spooled to disk, whatever happens. */
async function withUpload<T>(c: Context<AppEnv>, q: UploadQuery, fn: (input: ReturnType<typeof uploadedFile>) => Promise<T>): Promise<T> {
  const got = await readUpload(c)
  try {
    return await fn(uploadedFile(c, q, got))
  } finally {
    await got.discard()
  }
}

/** Imports an upload once its fields are checked; the day is queued for reconciliation in the import's transaction. */
async function importUpload(c: Context<AppEnv>, input: ReturnType<typeof uploadedFile>) {
  const { connectionId, businessDate: date } = input
  const principal = c.var.principal
  // The day is reconciled in the background against the new file (POST /runs does it at once), queued in the
  // import's own transaction so that a file is never current without its run.
  const r = await importFile(c.var.hub, { ...input, queueRun: true })
  const db = c.var.hub.database.db
  await recordAudit(db, principal, {
    action: `statement.${r.status}`,
    entityType: 'settlement_statement',
    entityId: r.statementId,
    details: { connectionId, businessDate: date, format: r.format, ...(r.status === 'rejected' ? { code: r.code, reason: r.reason } : {}) },
  })
  if (r.status === 'rejected') throw invalid('statement_rejected', `The statement was refused: ${r.reason}`, { statementId: r.statementId, code: r.code, lineNo: r.lineNo })
  const statement = statementOut(await getStatement(db, principal.merchantId, r.statementId))
  if (r.status === 'duplicate') return c.json({ result: 'duplicate' as const, statement, superseded: [] }, 200)
  return c.json({ result: 'imported' as const, statement, superseded: r.superseded }, 201)
}

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(upload, (c) => withUpload(c, c.req.valid('query'), (input) => importUpload(c, input)))

  app.openapi(previewUploadRoute, (c) =>
    withUpload(c, c.req.valid('query'), async (input) => {
      const p = await previewFile(c.var.hub, input)
      const run = p.run && (({ dryRun: _, ...rest }) => rest)(p.run)
      return c.json({ dryRun: true as const, connectionId: input.connectionId, businessDate: input.businessDate, file: p.file, run }, 200)
    }),
  )

  app.openapi(listStatementsRoute, async (c) => {
    const q = c.req.valid('query')
    checkRange(q.from, q.to)
    const r = await listStatements(c.var.db, c.var.principal.merchantId, q)
    return c.json({ items: r.items.map(statementOut), nextCursor: r.nextCursor }, 200)
  })

  app.openapi(getStatementRoute, async (c) => {
    return c.json(statementOut(await getStatement(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200)
  })

  app.openapi(downloadRoute, async (c) => {
    const f = await getStatementFile(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    const name = (f.statement.fileName ?? `${f.statement.format}-${f.statement.businessDate}`).replace(/[^\w.\-]+/g, '_')
    return c.body(new Uint8Array(f.content), 200, {
      'Content-Type': f.contentType,
      'Content-Disposition': `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(f.statement.fileName ?? name)}`,
      'X-Content-SHA256': f.statement.fileSha256,
    }) as never
  })

  app.openapi(listRunsRoute, async (c) => {
    const q = c.req.valid('query')
    checkRange(q.from, q.to)
    const r = await listRuns(c.var.db, c.var.principal.merchantId, { connectionId: q.connectionId, from: q.date ?? q.from, to: q.date ?? q.to, limit: q.limit, cursor: q.cursor })
    return c.json({ items: r.items.map(runOut), nextCursor: r.nextCursor }, 200)
  })

  app.openapi(runNow, async (c) => {
    const b = c.req.valid('json')
    const principal = c.var.principal
    const r: RunSummary = await reconcileConnectionDay(c.var.hub, { merchantId: principal.merchantId, connectionId: b.connectionId, businessDate: b.date })
    const db = c.var.hub.database.db
    await recordAudit(db, principal, { action: 'recon_run.started', entityType: 'recon_run', entityId: r.runId, details: { connectionId: b.connectionId, businessDate: b.date, reused: r.reused, status: r.status } })
    const run = await getRun(db, principal.merchantId, r.runId)
    return c.json({ ...runOut(run), reused: r.reused, changes: r.changes }, 200)
  })

  app.openapi(previewRoute, async (c) => {
    const b = c.req.valid('json')
    const p = await previewConnectionDay(c.var.hub, { merchantId: c.var.principal.merchantId, connectionId: b.connectionId, businessDate: b.date })
    return c.json({ ...p, connectionId: b.connectionId, businessDate: b.date }, 200)
  })

  app.openapi(listExceptionsRoute, async (c) => {
    const q = c.req.valid('query')
    checkRange(q.from, q.to)
    const r = await listExceptions(c.var.db, c.var.principal.merchantId, { ...q, outcomes: outcomesOf(q.outcome), today: await today(c) })
    return c.json({ items: r.items.map(itemOut), nextCursor: r.nextCursor }, 200)
  })

  app.openapi(exportExceptionsRoute, async (c) => {
    const q = c.req.valid('query')
    checkRange(q.from, q.to)
    const day = await today(c)
    const items = await exportExceptions(c.var.db, c.var.principal.merchantId, { ...q, outcomes: outcomesOf(q.outcome), today: day })
    const f = await tableFile(`reconciliation-exceptions-${day.replaceAll('-', '')}`, 'Exceptions', exceptionsTable(items), q.format, await fileLocale(c))
    return c.body(f.bytes as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': f.contentType, 'Content-Disposition': `attachment; filename="${f.filename}"` }) as never
  })

  app.openapi(getItemRoute, async (c) => {
    const v = await getItem(c.var.db, c.var.principal.merchantId, c.req.valid('param').id, await today(c))
    return c.json({ ...itemOut(v), history: v.history.map((h) => ({ ...h, createdAt: h.createdAt.toISOString() })) }, 200)
  })

  app.openapi(resolveRoute, async (c) => {
    const p = c.var.principal
    const request = await resolveRequest(c.var.db, p, c.req.valid('param').id, c.req.valid('json'))
    const r = await actOrHold(c.var.db, p, 'recon_item.resolve', request, c.var.hub.clock())
    if (r.held) return c.json(held(r.held), 202)
    return c.json(await itemWithHistory(c, r.result.item), 200)
  })

  app.openapi(reopenRoute, async (c) => {
    const item = await reopenItem(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'), c.var.hub.clock())
    return c.json(await itemWithHistory(c, item), 200)
  })

  app.openapi(summaryRoute, async (c) => {
    const q = c.req.valid('query')
    checkRange(q.from, q.to)
    const day = await today(c)
    return c.json({ today: day, items: await dailySummary(c.var.db, c.var.principal.merchantId, { ...q, today: day }) }, 200)
  })

  app.openapi(summaryExportRoute, async (c) => {
    const q = c.req.valid('query')
    checkRange(q.from, q.to)
    const day = await today(c)
    const rows = await dailySummary(c.var.db, c.var.principal.merchantId, { ...q, today: day })
    const f = await tableFile(`reconciliation-summary-${q.from.replaceAll('-', '')}-${q.to.replaceAll('-', '')}`, 'Summary', summaryTable(rows, q.by === 'terminal'), q.format, await fileLocale(c))
    return c.body(f.bytes as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': f.contentType, 'Content-Disposition': `attachment; filename="${f.filename}"` }) as never
  })
}
