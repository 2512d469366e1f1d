// Importing a channel statement: integrity first (the vendor's hash, then the file's own control totals against its
// rows), the lines streamed into settlement_lines in batches, all in one transaction with the statement row. A file
// that fails is rolled back as a whole and recorded as 'rejected' with the reason; the same file twice is recognised;
// a new file for the same day supersedes the old one.
import { createHash } from 'node:crypto'
import { createGunzip } from 'node:zlib'
import { Readable } from 'node:stream'
import { and, eq, inArray, ne, or, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { newId } from '../../lib/ids.ts'
import { businessDayRange } from '../../lib/time.ts'
import { settlementStatements, statementFiles } from './schema.ts'
import { StatementFormatError, type ControlTotals, type LineKind, type ParsedStatement, type StatementLine } from './types.ts'

export interface VendorHash {
  algorithm: 'sha1' | 'sha256' | 'md5'
  value: string
  /** 'decompressed': the hash covers the file after gunzip (WeChat v3 bills). */
  over: 'raw' | 'decompressed'
}

export interface ImportStatementInput {
  merchantId: string
  connectionId: string
  /** The layout ('wechat_trade', 'alipay_trade', 'mapped', …). */
  format: string
  businessDate: string
  source: 'fetched' | 'uploaded'
  fileName?: string | null
  /** The original bytes as received (compressed if the channel sent them so); kept for download. */
  bytes: Buffer
  contentType: string
  vendorHash?: VendorHash
  /** The connector's parse of `bytes`; only iterated once the hash has been checked. */
  parsed: ParsedStatement
  /** The channel's time zone: lines dated outside the business day in it are counted in the statement's totals. */
  timeZone?: string
  createdBy?: string | null
  /** Rows per insert (default 5000). */
  batchSize?: number
}

export type RejectCode = 'hash_mismatch' | 'control_totals_mismatch' | 'format_error'

export type ImportResult =
  | { status: 'imported'; statementId: string; lineCount: number; controlTotals: StatementTotals; superseded: string[] }
  /** The same file (connection, date, format, SHA-256) was imported before; a superseded copy becomes current again. */
  | { status: 'duplicate'; statementId: string; lineCount: number; reactivated: boolean }
  | { status: 'rejected'; statementId: string; code: RejectCode; reason: string; lineNo: number | null }

/** What the statement row keeps: the file's own control totals, ours over its rows, and how they compared. */
export interface StatementTotals {
  file: ControlTotals | null
  ours: Required<ControlTotals>
  /** Lines dated outside the business day in the channel's time zone (cut-off spill, not an error). */
  outsideDay: number
}

const KINDS: ReadonlySet<LineKind> = new Set(['payment', 'refund', 'fee', 'payout', 'adjustment'])
/** Lines that count towards a statement being current (others are history). */
export const CURRENT_STATUSES = ['imported', 'empty'] as const

class Rejection extends Error {
  readonly code: RejectCode
  readonly lineNo: number | null
  constructor(code: RejectCode, message: string, lineNo: number | null = null) {
    super(message)
    this.code = code
    this.lineNo = lineNo
  }
}

export const sha256Hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b

/** The hash of the file as the channel computed it: over the raw bytes, or streamed through gunzip. */
export async function vendorDigest(bytes: Buffer, algorithm: VendorHash['algorithm'], over: VendorHash['over']): Promise<string> {
  const h = createHash(algorithm)
  if (over === 'decompressed' && isGzip(bytes)) {
    try {
      for await (const chunk of Readable.from([bytes]).pipe(createGunzip())) h.update(chunk as Buffer)
    } catch (e) {
      throw new Rejection('format_error', `the file is not valid gzip: ${(e as Error).message}`)
    }
  } else h.update(bytes)
  return h.digest('hex')
}

/** Advisory-lock key of one connection's day of statements. */
const importLock = (connectionId: string, date: string) => sql`select pg_advisory_xact_lock(hashtextextended(${`recon-import:${connectionId}:${date}`}, 0))`

function checkLine(l: StatementLine, expectNo: number): void {
  const where = Number.isSafeInteger(l.lineNo) && l.lineNo > 0 ? l.lineNo : expectNo
  const fail = (m: string): never => {
    throw new StatementFormatError(m, where)
  }
  if (!KINDS.has(l.kind)) fail(`unknown line kind "${String(l.kind)}"`)
  if (!Number.isSafeInteger(l.amount)) fail(`amount ${String(l.amount)} is not a whole number of minor units`)
  if (l.amount < 0 && l.kind !== 'adjustment') fail(`amount ${l.amount} is negative; a ${l.kind} line carries a positive amount`)
  if (!Number.isSafeInteger(l.feeMilli)) fail(`fee ${String(l.feeMilli)} is not a whole number of thousandths of a minor unit`)
  if (typeof l.currency !== 'string' || !/^[A-Z]{3}$/.test(l.currency)) fail(`currency "${String(l.currency)}" is not an ISO 4217 code`)
  if (!(l.occurredAt instanceof Date) || Number.isNaN(l.occurredAt.getTime())) fail('the time of the line is missing or invalid')
  if (typeof l.status !== 'string' || l.status === '') fail('the status of the line is missing')
}

const zeroTotals = (): Required<ControlTotals> => ({ count: 0, paymentCount: 0, refundCount: 0, paymentAmount: 0, refundAmount: 0, feeMilli: 0 })

function compareTotals(file: ControlTotals | null, ours: Required<ControlTotals>): string[] {
  if (!file) return []
  const labels: Record<keyof ControlTotals, string> = {
    count: 'row count',
    paymentCount: 'payment count',
    refundCount: 'refund count',
    paymentAmount: 'payment amount (minor units)',
    refundAmount: 'refund amount (minor units)',
    feeMilli: 'fee (thousandths of a minor unit)',
  }
  const out: string[] = []
  for (const key of Object.keys(labels) as (keyof ControlTotals)[]) {
    const stated = file[key]
    if (stated === undefined || stated === null) continue
    if (stated !== ours[key]) out.push(`${labels[key]}: the file states ${stated}, its rows add up to ${ours[key]}`)
  }
  return out
}

interface Batch {
  lineNo: number[]
  kind: string[]
  ourRef: (string | null)[]
  ourPaymentRef: (string | null)[]
  channelTxnId: (string | null)[]
  channelRefundId: (string | null)[]
  currency: string[]
  amount: number[]
  feeMilli: number[]
  status: string[]
  occurredAt: string[]
  storeRef: (string | null)[]
  terminalRef: (string | null)[]
  rrn: (string | null)[]
  voucherNo: (string | null)[]
  payoutRef: (string | null)[]
  raw: (string | null)[]
}

const emptyBatch = (): Batch => ({
  lineNo: [],
  kind: [],
  ourRef: [],
  ourPaymentRef: [],
  channelTxnId: [],
  channelRefundId: [],
  currency: [],
  amount: [],
  feeMilli: [],
  status: [],
  occurredAt: [],
  storeRef: [],
  terminalRef: [],
  rrn: [],
  voucherNo: [],
  payoutRef: [],
  raw: [],
})

const opt = (v: string | null | undefined) => (v === undefined || v === null || v === '' ? null : v)

function push(b: Batch, l: StatementLine) {
  b.lineNo.push(l.lineNo)
  b.kind.push(l.kind)
  b.ourRef.push(opt(l.ourRef))
  b.ourPaymentRef.push(opt(l.ourPaymentRef))
  b.channelTxnId.push(opt(l.channelTxnId))
  b.channelRefundId.push(opt(l.channelRefundId))
  b.currency.push(l.currency)
  b.amount.push(l.amount)
  b.feeMilli.push(l.feeMilli)
  b.status.push(l.status)
  b.occurredAt.push(l.occurredAt.toISOString())
  b.storeRef.push(opt(l.storeRef))
  b.terminalRef.push(opt(l.terminalRef))
  b.rrn.push(opt(l.rrn))
  b.voucherNo.push(opt(l.voucherNo))
  b.payoutRef.push(opt(l.payoutRef))
  b.raw.push(l.raw ? JSON.stringify(l.raw) : null)
}

/** One multi-row insert of a batch: each column goes as one array parameter, unnested server-side. */
async function flush(tx: Tx, b: Batch, ids: { merchantId: string; statementId: string; connectionId: string; businessDate: string }) {
  if (b.lineNo.length === 0) return
  const p = sql.param
  await tx.execute(sql`
    insert into settlement_lines (merchant_id, statement_id, connection_id, business_date, line_no, kind, our_ref, our_payment_ref,
                                  channel_txn_id, channel_refund_id, currency, amount, fee_milli, status, occurred_at, store_ref,
                                  terminal_ref, rrn, voucher_no, payout_ref, raw)
    select ${ids.merchantId}::uuid, ${ids.statementId}::uuid, ${ids.connectionId}::uuid, ${ids.businessDate}::date, u.*
      from unnest(${p(b.lineNo)}::int[], ${p(b.kind)}::text[], ${p(b.ourRef)}::text[], ${p(b.ourPaymentRef)}::text[],
                  ${p(b.channelTxnId)}::text[], ${p(b.channelRefundId)}::text[], ${p(b.currency)}::text[], ${p(b.amount)}::bigint[],
                  ${p(b.feeMilli)}::bigint[], ${p(b.status)}::text[], ${p(b.occurredAt)}::timestamptz[], ${p(b.storeRef)}::text[],
                  ${p(b.terminalRef)}::text[], ${p(b.rrn)}::text[], ${p(b.voucherNo)}::text[], ${p(b.payoutRef)}::text[],
                  ${p(b.raw)}::jsonb[]) as u`)
}

/** Marks the other current statements of the day (same format, or an earlier "empty" verdict) as superseded. */
async function supersedeOthers(tx: Tx, input: { connectionId: string; businessDate: string; format: string }, keepId: string): Promise<string[]> {
  const rows = await tx
    .update(settlementStatements)
    .set({ status: 'superseded' })
    .where(
      and(
        eq(settlementStatements.connectionId, input.connectionId),
        eq(settlementStatements.businessDate, input.businessDate),
        ne(settlementStatements.id, keepId),
        or(and(eq(settlementStatements.format, input.format), inArray(settlementStatements.status, [...CURRENT_STATUSES])), eq(settlementStatements.status, 'empty')),
      ),
    )
    .returning({ id: settlementStatements.id })
  return rows.map((r) => r.id)
}

async function findSame(tx: Tx, input: { merchantId: string; connectionId: string; businessDate: string; format: string }, sha: string) {
  const [row] = await tx
    .select()
    .from(settlementStatements)
    .where(
      and(
        eq(settlementStatements.merchantId, input.merchantId),
        eq(settlementStatements.connectionId, input.connectionId),
        eq(settlementStatements.businessDate, input.businessDate),
        eq(settlementStatements.format, input.format),
        eq(settlementStatements.fileSha256, sha),
      ),
    )
  return row
}

/** Records (or refreshes) a rejected statement with its reason and bytes, in a transaction of its own. */
async function recordRejection(db: Db, input: ImportStatementInput, sha: string, r: Rejection): Promise<ImportResult> {
  const reason = r.message.slice(0, 2000)
  const id = await db.transaction(async (tx) => {
    await tx.execute(importLock(input.connectionId, input.businessDate))
    const existing = await findSame(tx, input, sha)
    if (existing) {
      if (existing.status !== 'rejected') return existing.id
      await tx.update(settlementStatements).set({ rejectReason: reason, createdAt: new Date() }).where(eq(settlementStatements.id, existing.id))
      return existing.id
    }
    const statementId = newId()
    await tx.insert(settlementStatements).values({
      id: statementId,
      merchantId: input.merchantId,
      connectionId: input.connectionId,
      format: input.format,
      businessDate: input.businessDate,
      source: input.source,
      fileName: input.fileName ?? null,
      fileSha256: sha,
      sizeBytes: input.bytes.length,
      status: 'rejected',
      rejectReason: reason,
      lineCount: 0,
      createdBy: input.createdBy ?? null,
    })
    await tx.insert(statementFiles).values({ statementId, contentType: input.contentType, content: input.bytes })
    return statementId
  })
  return { status: 'rejected', statementId: id, code: r.code, reason, lineNo: r.lineNo }
}

/**
 * Imports one statement file. Expected outcomes (imported, duplicate, rejected) are returned; only the unexpected
 * (the database failing, a parser bug) is thrown.
 */
export async function importStatement(db: Db, input: ImportStatementInput): Promise<ImportResult> {
  const sha = sha256Hex(input.bytes)
  try {
    if (input.vendorHash) {
      const got = await vendorDigest(input.bytes, input.vendorHash.algorithm, input.vendorHash.over)
      if (got !== input.vendorHash.value.trim().toLowerCase()) {
        throw new Rejection(
          'hash_mismatch',
          `the file's ${input.vendorHash.algorithm.toUpperCase()} (${input.vendorHash.over === 'decompressed' ? 'of the decompressed file' : 'of the file'}) is ${got}, the channel stated ${input.vendorHash.value}`,
        )
      }
    }
    return await db.transaction(async (tx) => {
      await tx.execute(importLock(input.connectionId, input.businessDate))
      const same = await findSame(tx, input, sha)
      if (same && same.status !== 'rejected') {
        let reactivated = false
        if (same.status === 'superseded') {
          await supersedeOthers(tx, input, same.id)
          await tx.update(settlementStatements).set({ status: same.lineCount === 0 && same.format === 'empty' ? 'empty' : 'imported' }).where(eq(settlementStatements.id, same.id))
          reactivated = true
        }
        return { status: 'duplicate', statementId: same.id, lineCount: same.lineCount, reactivated } as const
      }
      const statementId = same?.id ?? newId()
      const row = {
        merchantId: input.merchantId,
        connectionId: input.connectionId,
        format: input.format,
        businessDate: input.businessDate,
        source: input.source,
        fileName: input.fileName ?? null,
        fileSha256: sha,
        sizeBytes: input.bytes.length,
        status: 'imported',
        rejectReason: null,
        lineCount: 0,
        createdBy: input.createdBy ?? null,
      }
      if (same) {
        await tx.update(settlementStatements).set({ ...row, createdAt: new Date() }).where(eq(settlementStatements.id, same.id))
        await tx.update(statementFiles).set({ contentType: input.contentType, content: input.bytes }).where(eq(statementFiles.statementId, same.id))
      } else {
        await tx.insert(settlementStatements).values({ id: statementId, ...row })
        await tx.insert(statementFiles).values({ statementId, contentType: input.contentType, content: input.bytes })
      }

      const ids = { merchantId: input.merchantId, statementId, connectionId: input.connectionId, businessDate: input.businessDate }
      const ours = zeroTotals()
      const day = input.timeZone ? businessDayRange(input.businessDate, input.timeZone) : undefined
      let outsideDay = 0
      const size = input.batchSize ?? 5000
      let batch = emptyBatch()
      for await (const line of input.parsed.lines) {
        checkLine(line, ours.count + 1)
        ours.count++
        if (line.kind === 'payment') {
          ours.paymentCount++
          ours.paymentAmount += line.amount
        } else if (line.kind === 'refund') {
          ours.refundCount++
          ours.refundAmount += line.amount
        }
        ours.feeMilli += line.feeMilli
        if (day && (line.occurredAt < day.start || line.occurredAt >= day.end)) outsideDay++
        push(batch, line)
        if (batch.lineNo.length >= size) {
          await flush(tx, batch, ids)
          batch = emptyBatch()
        }
      }
      await flush(tx, batch, ids)
      const file = input.parsed.controlTotals()
      const differences = compareTotals(file, ours)
      if (differences.length > 0) throw new Rejection('control_totals_mismatch', `the file's control totals do not match its rows: ${differences.join('; ')}`)
      const totals: StatementTotals = { file, ours, outsideDay }
      await tx
        .update(settlementStatements)
        .set({ lineCount: ours.count, controlTotals: totals as unknown as Record<string, unknown> })
        .where(eq(settlementStatements.id, statementId))
      const superseded = await supersedeOthers(tx, input, statementId)
      return { status: 'imported', statementId, lineCount: ours.count, controlTotals: totals, superseded } as const
    })
  } catch (e) {
    if (e instanceof Rejection) return recordRejection(db, input, sha, e)
    if (e instanceof StatementFormatError) return recordRejection(db, input, sha, new Rejection('format_error', e.message, e.lineNo))
    // Two imports of the same file at once: the second finds the first's row.
    if (isUniqueViolation(e, 'settlement_statements_file_key')) {
      const same = await findSame(db, input, sha)
      if (same && same.status !== 'rejected') return { status: 'duplicate', statementId: same.id, lineCount: same.lineCount, reactivated: false }
    }
    throw e
  }
}

/** The channel said there were no transactions that day: an empty statement the day's run can rest on. */
export async function recordEmptyStatement(
  db: Db,
  input: { merchantId: string; connectionId: string; businessDate: string; message: string; source?: 'fetched' | 'uploaded' },
): Promise<{ statementId: string; created: boolean }> {
  const bytes = Buffer.from(input.message, 'utf8')
  const sha = sha256Hex(bytes)
  const key = { merchantId: input.merchantId, connectionId: input.connectionId, businessDate: input.businessDate, format: 'empty' }
  return db.transaction(async (tx) => {
    await tx.execute(importLock(input.connectionId, input.businessDate))
    const same = await findSame(tx, key, sha)
    if (same) {
      if (same.status === 'superseded') {
        await supersedeOthers(tx, key, same.id)
        await tx.update(settlementStatements).set({ status: 'empty' }).where(eq(settlementStatements.id, same.id))
      }
      return { statementId: same.id, created: false }
    }
    const statementId = newId()
    await tx.insert(settlementStatements).values({
      id: statementId,
      ...key,
      source: input.source ?? 'fetched',
      fileName: null,
      fileSha256: sha,
      sizeBytes: bytes.length,
      status: 'empty',
      lineCount: 0,
      controlTotals: { file: { count: 0 }, ours: zeroTotals(), outsideDay: 0, message: input.message },
    })
    await tx.insert(statementFiles).values({ statementId, contentType: 'text/plain; charset=utf-8', content: bytes })
    await supersedeOthers(tx, key, statementId)
    return { statementId, created: true }
  })
}
