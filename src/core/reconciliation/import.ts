// Importing a channel statement: integrity first (the vendor's hash, then the file's own control totals against its
// rows), the lines streamed into settlement_lines with COPY, all in one transaction with the statement row. A file
// that fails is rolled back as a whole and recorded as 'rejected' with the reason; the same file twice is recognised;
// a new file for the same day supersedes the old one.
import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import { and, eq, inArray, ne, or, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { Db, Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { newId } from '../../lib/ids.ts'
import { sha256Hex } from '../../lib/secrets.ts'
import { repeatFinder } from '../../lib/repeats.ts'
import { businessDayRange } from '../../lib/time.ts'
import { settlementStatements, statementFiles } from './schema.ts'
import { StatementFormatError, type ControlTotals, type LineKind, type ParsedStatement, type PayoutMember, type StatementLine } from './types.ts'
import { contentDigest, type StatementContent } from './file.ts'

export interface VendorHash {
  algorithm: 'sha1' | 'sha256' | 'md5'
  value: string
  /** 'decompressed': the hash covers the file after gunzip (WeChat v3 bills). */
  over: 'raw' | 'decompressed'
}

/** What the import made current, for the caller's work in the same transaction (the day's run to queue). */
export interface CurrentFile {
  lineCount: number
  /** The statements of the day it superseded. */
  superseded: string[]
  /** Days of later payouts its lines joined: their runs check the deposits again. */
  payoutDays: string[]
}

export interface ImportStatementInput {
  merchantId: string
  connectionId: string
  /** The layout ('wechat_trade', 'alipay_trade', 'mapped', …). */
  format: string
  businessDate: string
  source: 'fetched' | 'uploaded'
  fileName?: string | null
  /** The original file as received (compressed if the channel sent it so); kept for download. */
  content: StatementContent
  contentType: string
  vendorHash?: VendorHash
  /** The connector's parse of `content`; only iterated once the hash has been checked. */
  parsed: ParsedStatement
  /** The channel's time zone: lines dated outside the business day in it are counted in the statement's totals. */
  timeZone?: string
  /**
   * Other formats whose current file of the day this one supersedes too (as it does an earlier file of its own
   * format): formats that hold the same movements, of which a day must have one current file.
   */
  supersedesFormats?: string[]
  createdBy?: string | null
  /** Rows per chunk written to the COPY stream (default 1000). */
  batchSize?: number
  /** Told the rows read so far after every chunk written, and once at the end. */
  onProgress?: (rows: number) => void | Promise<void>
  /**
   * Run inside the import's transaction once the statement is current (imported, or a superseded copy made current
   * again): what must not be lost if the process stops right after the commit, such as queueing the day's run.
   */
  onCurrent?: (tx: Tx, statementId: string, file: CurrentFile) => Promise<void>
  /**
   * A dry run (its caller rolls the import back from onCurrent): a refused file is thrown as a Rejection instead of
   * being recorded as a rejected statement.
   */
  dryRun?: boolean
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

const KINDS: ReadonlySet<LineKind> = new Set(['payment', 'refund', 'fee', 'payout', 'payout_return', 'adjustment'])
/** Lines that count towards a statement being current (others are history). */
export const CURRENT_STATUSES = ['imported', 'empty'] as const

/** Why a file is refused: in a dry run it is thrown to the caller instead of being recorded. */
export class Rejection extends Error {
  readonly code: RejectCode
  readonly lineNo: number | null
  constructor(code: RejectCode, message: string, lineNo: number | null = null) {
    super(message)
    this.code = code
    this.lineNo = lineNo
  }
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
  // Stored as microseconds from PostgreSQL's epoch, exact within about 285 years of it.
  if (!Number.isSafeInteger((l.occurredAt.getTime() - PG_EPOCH_MS) * 1000)) fail(`the time of the line (${l.occurredAt.toISOString()}) is out of range`)
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

const LINE_COLUMNS =
  'merchant_id, statement_id, connection_id, business_date, line_no, kind, our_ref, our_payment_ref, channel_txn_id, channel_refund_id, currency, amount, ' +
  'fee_milli, status, occurred_at, store_ref, terminal_ref, rrn, voucher_no, payout_ref'

const LINE_FIELDS = LINE_COLUMNS.split(',').length

/** COPY's binary format: its signature, no flags, no header extension; a field count of -1 ends the data. */
const BINARY_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)])
const BINARY_COPY_TRAILER = Buffer.from([0xff, 0xff])

/** PostgreSQL's epoch, from which its dates count days and its timestamps microseconds. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1)
const DAY_MS = 86_400_000
const TWO_32 = 4_294_967_296

/** A uuid's 16 bytes, as COPY's binary format sends it. */
function uuidBytes(id: string): Buffer {
  const b = Buffer.from(id.replace(/-/g, ''), 'hex')
  if (b.length !== 16) throw new Error(`not a uuid: ${id}`)
  return b
}

/**
 * The start of every line's tuple in COPY's binary format: the field count, then the fields all lines of a statement
 * share (merchant, statement and connection ids, the business date).
 */
function linePrefix(merchantId: string, statementId: string, connectionId: string, businessDate: string): Buffer {
  const b = Buffer.alloc(2 + 3 * (4 + 16) + 4 + 4)
  let at = b.writeInt16BE(LINE_FIELDS, 0)
  for (const id of [merchantId, statementId, connectionId]) at = writeUuidField(b, at, id)
  at = b.writeInt32BE(4, at)
  b.writeInt32BE((Date.parse(`${businessDate}T00:00:00Z`) - PG_EPOCH_MS) / DAY_MS, at)
  return b
}

/** A safe integer as a field of 8 bytes (int8), without a BigInt: its high and low 32 bits in two's complement. */
function writeInt8Field(buf: Buffer, at: number, n: number): number {
  at = buf.writeInt32BE(8, at)
  const high = Math.floor(n / TWO_32)
  at = buf.writeInt32BE(high, at)
  return buf.writeUInt32BE(n - high * TWO_32, at)
}

/** A uuid field: its length (16) and bytes. */
function writeUuidField(buf: Buffer, at: number, id: string): number {
  at = buf.writeInt32BE(16, at)
  return at + uuidBytes(id).copy(buf, at)
}

/** A text field: its UTF-8 bytes after their length; absent or empty is NULL, as the lines have always been stored. */
function writeTextField(buf: Buffer, at: number, v: string | null | undefined): number {
  if (v === undefined || v === null || v === '') return buf.writeInt32BE(-1, at)
  const n = buf.write(v, at + 4)
  buf.writeInt32BE(n, at)
  return at + 4 + n
}

/**
 * One settlement_lines tuple in COPY's binary format, written into `buf` at `at`; returns where it ends, or, when it
 * might not fit, nothing written and minus the room it needs. Binary, the server reads each value as it is instead of
 * parsing text (uuids, numbers, timestamps): the lines' COPY of a million rows took 8.4-9.0 s instead of 10.0-11.5 s
 * on this machine. `prefix` is the statement's {@link linePrefix}.
 */
function writeRow(buf: Buffer, at: number, prefix: Buffer, l: StatementLine): number {
  const texts = [l.kind, l.ourRef, l.ourPaymentRef, l.channelTxnId, l.channelRefundId, l.currency, l.status, l.storeRef, l.terminalRef, l.rrn, l.voucherNo, l.payoutRef]
  let chars = 0
  for (const t of texts) chars += t?.length ?? 0
  // A UTF-16 code unit is at most 3 bytes of UTF-8: with that much room left, the tuple fits.
  const room = prefix.length + (4 + 4) + 3 * (4 + 8) + texts.length * 4 + chars * 3
  if (at + room > buf.length) return -room
  // In LINE_COLUMNS' order, after the prefix's four.
  at += prefix.copy(buf, at)
  at = buf.writeInt32BE(4, at)
  at = buf.writeInt32BE(l.lineNo, at)
  at = writeTextField(buf, at, l.kind)
  at = writeTextField(buf, at, l.ourRef)
  at = writeTextField(buf, at, l.ourPaymentRef)
  at = writeTextField(buf, at, l.channelTxnId)
  at = writeTextField(buf, at, l.channelRefundId)
  at = writeTextField(buf, at, l.currency)
  at = writeInt8Field(buf, at, l.amount)
  at = writeInt8Field(buf, at, l.feeMilli)
  at = writeTextField(buf, at, l.status)
  at = writeInt8Field(buf, at, (l.occurredAt.getTime() - PG_EPOCH_MS) * 1000)
  at = writeTextField(buf, at, l.storeRef)
  at = writeTextField(buf, at, l.terminalRef)
  at = writeTextField(buf, at, l.rrn)
  at = writeTextField(buf, at, l.voucherNo)
  return writeTextField(buf, at, l.payoutRef)
}


/** Bytes of COPY data per write of the lines. */
const COPY_CHUNK_BYTES = 1 << 16

/** A writer for a COPY … FROM STDIN: waits while the socket is full, and fails with the server's error should it end the COPY early. */
function copyWriter(copy: ReturnType<typeof copyFrom>) {
  const copied = finished(copy)
  // Awaited by the caller; this only keeps a failure that comes while the caller works from counting as unhandled.
  copied.catch(() => {})
  const send = async (chunk: Buffer) => {
    if (copy.destroyed) await copied
    if (!copy.write(chunk)) await Promise.race([once(copy, 'drain'), copied])
  }
  return { send, copied }
}

/**
 * Stores the original file through a binary COPY, its bytes sent as they are read, in chunks: a statement of any size
 * costs this process no copy of it (a bound parameter would be built whole, and grown, in the protocol buffer; COPY's
 * text format would double it as hex).
 */
async function copyStatementContent(client: pg.PoolClient, statementId: string, contentType: string, content: StatementContent): Promise<void> {
  const copy = client.query(copyFrom('copy statement_files (statement_id, content_type, content) from stdin with (format binary)'))
  const { send, copied } = copyWriter(copy)
  // One tuple of three fields, each a 32-bit length (-1 for NULL) and its bytes; the file's bytes follow the header.
  const head = Buffer.alloc(BINARY_COPY_HEADER.length + 2 + (4 + 16) + (4 + 3 * contentType.length) + 4)
  let at = BINARY_COPY_HEADER.copy(head, 0)
  at = head.writeInt16BE(3, at)
  at = writeUuidField(head, at, statementId)
  at = writeTextField(head, at, contentType)
  at = head.writeInt32BE(content.size, at)
  try {
    await send(head.subarray(0, at))
    for await (const chunk of content.chunks()) await send(chunk)
  } catch (e) {
    // CopyFail: the server drops what it got; the transaction then rolls back.
    if (!copy.destroyed) copy.destroy(e instanceof Error ? e : new Error(String(e)))
    await copied.catch(() => {})
    throw e
  }
  copy.end(BINARY_COPY_TRAILER)
  await copied
}

/**
 * A transaction on a pooled connection of its own, so that the lines can go through COPY (which drizzle does not
 * speak) on the same connection as the typed statements around them.
 */
async function inTransaction<T>(db: Db, fn: (tx: Db, client: pg.PoolClient) => Promise<T>): Promise<T> {
  const pool = (db as unknown as { $client?: unknown }).$client
  if (!(pool instanceof pg.Pool)) throw new Error('importStatement needs a database handle over a pg Pool')
  const client = await pool.connect()
  let broken = false
  try {
    // drizzle's own transaction, so that one opened inside it (a dry run of the day's reconciliation) is a savepoint.
    return await drizzle({ client }).transaction((tx) => fn(tx as unknown as Db, client))
  } catch (e) {
    // A connection that cannot answer after the rollback is not given back to the pool.
    broken = await client.query('select 1').then(
      () => false,
      () => true,
    )
    throw e
  } finally {
    client.release(broken)
  }
}

/**
 * Marks the other current statements of the day (same format or one of `supersedesFormats`, or an earlier "empty"
 * verdict) as superseded.
 */
async function supersedeOthers(tx: Tx, input: { connectionId: string; businessDate: string; format: string; supersedesFormats?: string[] }, keepId: string): Promise<string[]> {
  const formats = [...new Set([input.format, ...(input.supersedesFormats ?? [])])]
  const rows = await tx
    .update(settlementStatements)
    .set({ status: 'superseded' })
    .where(
      and(
        eq(settlementStatements.connectionId, input.connectionId),
        eq(settlementStatements.businessDate, input.businessDate),
        ne(settlementStatements.id, keepId),
        or(and(inArray(settlementStatements.format, formats), inArray(settlementStatements.status, [...CURRENT_STATUSES])), eq(settlementStatements.status, 'empty')),
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

/** Records (or refreshes) a rejected statement with its reason and file, in a transaction of its own. */
async function recordRejection(db: Db, input: ImportStatementInput, sha: string, r: Rejection): Promise<ImportResult> {
  const reason = r.message.slice(0, 2000)
  const id = await inTransaction(db, async (tx, client) => {
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
      sizeBytes: input.content.size,
      status: 'rejected',
      rejectReason: reason,
      lineCount: 0,
      createdBy: input.createdBy ?? null,
    })
    await copyStatementContent(client, statementId, input.contentType, input.content)
    return statementId
  })
  return { status: 'rejected', statementId: id, code: r.code, reason, lineNo: r.lineNo }
}

/**
 * Imports one statement file. Expected outcomes (imported, duplicate, rejected) are returned; only the unexpected
 * (the database failing, a parser bug) is thrown.
 */
export async function importStatement(db: Db, input: ImportStatementInput): Promise<ImportResult> {
  const sha = await contentDigest(input.content, 'sha256', 'raw')
  try {
    if (input.vendorHash) {
      const got = await contentDigest(input.content, input.vendorHash.algorithm, input.vendorHash.over)
      if (got !== input.vendorHash.value.trim().toLowerCase()) {
        throw new Rejection(
          'hash_mismatch',
          `the file's ${input.vendorHash.algorithm.toUpperCase()} (${input.vendorHash.over === 'decompressed' ? 'of the decompressed file' : 'of the file'}) is ${got}, the channel stated ${input.vendorHash.value}`,
        )
      }
    }
    return await inTransaction(db, async (tx, client) => {
      await tx.execute(importLock(input.connectionId, input.businessDate))
      const same = await findSame(tx, input, sha)
      if (same && same.status !== 'rejected') {
        let reactivated = false
        if (same.status === 'superseded') {
          const others = await supersedeOthers(tx, input, same.id)
          // Its lines were not current when a later day's payout stamped the file in its place.
          if (input.parsed.payoutMembers && others.length > 0) await carryPayouts(tx, same.id, others)
          await tx.update(settlementStatements).set({ status: same.lineCount === 0 && same.format === 'empty' ? 'empty' : 'imported' }).where(eq(settlementStatements.id, same.id))
          const payoutDays = input.parsed.payoutMembers ? await joinLaterPayouts(tx, input, same.id) : []
          await input.onCurrent?.(tx, same.id, { lineCount: same.lineCount, superseded: others, payoutDays })
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
        sizeBytes: input.content.size,
        status: 'imported',
        rejectReason: null,
        lineCount: 0,
        createdBy: input.createdBy ?? null,
      }
      if (same) {
        await tx.update(settlementStatements).set({ ...row, createdAt: new Date() }).where(eq(settlementStatements.id, same.id))
        await tx.delete(statementFiles).where(eq(statementFiles.statementId, same.id))
      } else {
        await tx.insert(settlementStatements).values({ id: statementId, ...row })
      }
      await copyStatementContent(client, statementId, input.contentType, input.content)

      const ours = zeroTotals()
      const day = input.timeZone ? businessDayRange(input.businessDate, input.timeZone) : undefined
      let outsideDay = 0
      // Our payment numbers seen on more than one payment line: a run leaves them out of its clean pairs without
      // counting a million references itself.
      const repeats = repeatFinder()
      const size = input.batchSize ?? 1000
      // The lines stream into COPY while the file is still being read: the database writes a chunk as the parser
      // reads the next, and the stream's back-pressure keeps what waits in memory to a few chunks.
      const prefix = linePrefix(input.merchantId, statementId, input.connectionId, input.businessDate)
      const copy = client.query(copyFrom(`copy settlement_lines (${LINE_COLUMNS}) from stdin with (format binary)`))
      const { send, copied } = copyWriter(copy)
      try {
        // Each tuple is written into the chunk as it is made, the header first; no string of the row is ever made.
        let chunk = Buffer.allocUnsafe(COPY_CHUNK_BYTES)
        let used = BINARY_COPY_HEADER.copy(chunk, 0)
        let rows = 0
        const flush = async (room = COPY_CHUNK_BYTES) => {
          await send(chunk.subarray(0, used))
          chunk = Buffer.allocUnsafe(room)
          used = 0
        }
        for await (const line of input.parsed.lines) {
          checkLine(line, ours.count + 1)
          ours.count++
          if (line.kind === 'payment') {
            ours.paymentCount++
            ours.paymentAmount += line.amount
            if (line.ourRef) repeats.add(line.ourRef)
          } else if (line.kind === 'refund') {
            ours.refundCount++
            ours.refundAmount += line.amount
          }
          ours.feeMilli += line.feeMilli
          if (day && (line.occurredAt < day.start || line.occurredAt >= day.end)) outsideDay++
          let end = writeRow(chunk, used, prefix, line)
          if (end < 0) {
            await flush(Math.max(COPY_CHUNK_BYTES, -end))
            end = writeRow(chunk, used, prefix, line)
          }
          used = end
          if (++rows >= size) {
            await flush()
            rows = 0
            await input.onProgress?.(ours.count)
          }
        }
        copy.end(Buffer.concat([chunk.subarray(0, used), BINARY_COPY_TRAILER]))
        await copied
        await input.onProgress?.(ours.count)
      } catch (e) {
        // CopyFail: the server drops what it got; the transaction then rolls back.
        if (!copy.destroyed) copy.destroy(e instanceof Error ? e : new Error(String(e)))
        await copied.catch(() => {})
        throw e
      }
      const file = input.parsed.controlTotals()
      const differences = compareTotals(file, ours)
      if (differences.length > 0) throw new Rejection('control_totals_mismatch', `the file's control totals do not match its rows: ${differences.join('; ')}`)
      const totals: StatementTotals = { file, ours, outsideDay }
      await stampPayouts(tx, input, statementId, input.parsed.payoutMembers?.() ?? [])
      await tx
        .update(settlementStatements)
        .set({ lineCount: ours.count, controlTotals: totals as unknown as Record<string, unknown>, repeatedRefs: repeats.repeats() })
        .where(eq(settlementStatements.id, statementId))
      const superseded = await supersedeOthers(tx, input, statementId)
      if (input.parsed.payoutMembers && superseded.length > 0) await carryPayouts(tx, statementId, superseded)
      const payoutDays = input.parsed.payoutMembers ? await joinLaterPayouts(tx, input, statementId) : []
      await input.onCurrent?.(tx, statementId, { lineCount: ours.count, superseded, payoutDays })
      return { status: 'imported', statementId, lineCount: ours.count, controlTotals: totals, superseded } as const
    })
  } catch (e) {
    const refused = e instanceof Rejection ? e : e instanceof StatementFormatError ? new Rejection('format_error', e.message, e.lineNo) : undefined
    if (refused) {
      if (input.dryRun) throw refused
      return recordRejection(db, input, sha, refused)
    }
    // Two imports of the same file at once: the second finds the first's row.
    if (isUniqueViolation(e, 'settlement_statements_file_key')) {
      const same = await findSame(db, input, sha)
      if (same && same.status !== 'rejected') return { status: 'duplicate', statementId: same.id, lineCount: same.lineCount, reactivated: false }
    }
    throw e
  }
}

/** How far back a payout's transactions are looked for: Stripe pays out within days, at most a month after. */
const PAYOUT_WINDOW_DAYS = 35

/**
 * Stamps the lines of the transactions a payout paid out with the payout's reference: those of this file and of the
 * connection's current statements of the days before, up to PAYOUT_WINDOW_DAYS (read by statement, never the
 * connection's whole history), from the members as kept with the statement (which a day coming in after it joins
 * too: joinLaterPayouts). A line already stamped keeps its payout.
 */
async function stampPayouts(tx: Tx, input: ImportStatementInput, statementId: string, members: PayoutMember[]): Promise<void> {
  if (members.length === 0) return
  await tx.execute(sql`
    insert into settlement_payout_members (merchant_id, statement_id, connection_id, business_date, payout_ref, kind, channel_txn_id, channel_refund_id, amount)
    select ${input.merchantId}, ${statementId}, ${input.connectionId}, ${input.businessDate}::date, m."payoutRef", m.kind, m."channelTxnId", m."channelRefundId", m.amount
      from jsonb_to_recordset(${JSON.stringify(members)}::jsonb) as m("payoutRef" text, kind text, "channelTxnId" text, "channelRefundId" text, amount bigint)`)
  await tx.execute(sql`
    update settlement_lines l set payout_ref = m.payout_ref
      from settlement_payout_members m
     where m.statement_id = ${statementId}
       and l.statement_id in (select st.id from settlement_statements st
                               where st.merchant_id = ${input.merchantId} and st.connection_id = ${input.connectionId}
                                 and (st.id = ${statementId} or st.status = 'imported')
                                 and st.business_date between ${input.businessDate}::date - ${PAYOUT_WINDOW_DAYS}::int and ${input.businessDate}::date)
       and l.payout_ref is null and l.kind = m.kind and l.amount = m.amount
       and (case when m.kind = 'refund' then l.channel_refund_id = m.channel_refund_id else l.channel_txn_id = m.channel_txn_id end)`)
}

/**
 * A day that came in after the payouts that paid out its transactions (its download failed and was retried later):
 * its lines take the payout of the connection's current statements of the days after it, up to PAYOUT_WINDOW_DAYS,
 * that lists them. Answers those payouts' days, whose runs check the deposits again. Only for channels whose files
 * list what their payouts paid out (payoutMembers).
 */
async function joinLaterPayouts(tx: Tx, input: ImportStatementInput, statementId: string): Promise<string[]> {
  const { rows } = await tx.execute<{ day: string }>(sql`
    with stamped as (
      update settlement_lines l set payout_ref = m.payout_ref
        from settlement_payout_members m join settlement_statements st on st.id = m.statement_id and st.status = 'imported'
       where l.statement_id = ${statementId} and l.payout_ref is null and l.kind <> 'payout'
         and m.merchant_id = ${input.merchantId} and m.connection_id = ${input.connectionId} and m.statement_id <> ${statementId}
         and m.business_date between ${input.businessDate}::date and ${input.businessDate}::date + ${PAYOUT_WINDOW_DAYS}::int
         and m.kind = l.kind and (m.amount is null or m.amount = l.amount)
         and (case when l.kind = 'refund' then l.channel_refund_id = m.channel_refund_id else l.channel_txn_id = m.channel_txn_id end)
      returning m.business_date
    )
    select distinct business_date::text as day from stamped order by 1`)
  return rows.map((r) => r.day)
}

/**
 * A corrected file of a day whose transactions a later day's payout already paid out: its lines take the payout of
 * the same transaction in the file they supersede (the payout's day was imported before, and is not imported again).
 */
async function carryPayouts(tx: Tx, statementId: string, supersededIds: string[]): Promise<void> {
  await tx.execute(sql`
    update settlement_lines n set payout_ref = o.payout_ref
      from settlement_lines o
     where n.statement_id = ${statementId} and n.payout_ref is null and n.kind <> 'payout'
       and o.statement_id = any(${sql.param(supersededIds)}::uuid[]) and o.payout_ref is not null and o.kind = n.kind and o.amount = n.amount
       and (case when n.kind = 'refund' then o.channel_refund_id = n.channel_refund_id else o.channel_txn_id = n.channel_txn_id end)`)
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
