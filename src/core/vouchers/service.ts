// The life of a day's voucher: previewed, built (kept as a revision), exported (then immutable), and corrected when
// its day changes afterwards — a reversal of what was delivered and a new revision, or one voucher of the
// difference, as the merchant chose; never an edit. A correction of a day in a closed period is posted on the first
// open day, its 摘要 saying which day it makes up for (补记).
import { and, desc, eq, inArray, ne, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { checkRowCursor } from '../../db/page.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { nameUuid, newId } from '../../lib/ids.ts'
import { addDays } from '../../lib/time.ts'
import { recordEvents } from '../events/service.ts'
import { getSettings, type VoucherSettings } from '../merchants/settings.ts'
import { stores } from '../stores/schema.ts'
import { loadMapping } from './accounts.ts'
import { assembleLines, dayPostings, fingerprintLines, type BuiltLine, type DaySources } from './build.ts'
import { voucherExports, voucherLines, vouchers, voucherSources, type VoucherKind } from './schema.ts'

export type VoucherRow = typeof vouchers.$inferSelect
export type VoucherLineRow = typeof voucherLines.$inferSelect

export interface DayRef {
  merchantId: string
  /** Null for the merchant-wide voucher (grouping 'merchant'). */
  storeId: string | null
  businessDate: string
}

export interface Preview {
  businessDate: string
  storeId: string | null
  postingDate: string
  word: string
  currency: string
  lines: BuiltLine[]
  totalDebit: number
  totalCredit: number
  rounding: number
  problems: { code: string; message: string; key?: string }[]
  sources: DaySources
  fingerprint: string
}

const NIL = '00000000-0000-0000-0000-000000000000'

async function storeOf(tx: Tx, merchantId: string, storeId: string | null) {
  if (storeId === null) return null
  const [s] = await tx.select({ id: stores.id, code: stores.code, name: stores.name }).from(stores).where(and(eq(stores.id, storeId), eq(stores.merchantId, merchantId)))
  if (!s) throw notFound('store', storeId)
  return s
}

/** The day posts in its own period, or on the first day after the closed ones. */
const postingDateFor = (businessDate: string, s: VoucherSettings) => (s.closedThrough && businessDate <= s.closedThrough ? addDays(s.closedThrough, 1) : businessDate)

/** The day's voucher as it would be built now, without keeping anything. */
export async function previewVoucher(tx: Tx, day: DayRef): Promise<Preview> {
  const settings = await getSettings(tx, day.merchantId)
  const v = settings.vouchers
  if (v.grouping === 'merchant' && day.storeId !== null) throw invalid('grouping_merchant', 'vouchers are built per merchant (settings.vouchers.grouping); leave the store out')
  if (v.grouping === 'store' && day.storeId === null) throw invalid('store_required', 'vouchers are built per store (settings.vouchers.grouping): name the store')
  const store = await storeOf(tx, day.merchantId, day.storeId)
  const mapping = await loadMapping(tx, day.merchantId, day.storeId)
  const { postings, sources } = await dayPostings(tx, { ...day, noStoreTo: v.noStoreTo })
  const assembled = assembleLines(postings, mapping, { businessDate: day.businessDate, storeCode: store?.code ?? '', settings: v })
  return {
    businessDate: day.businessDate,
    storeId: day.storeId,
    postingDate: postingDateFor(day.businessDate, v),
    word: v.word,
    currency: settings.currency,
    ...assembled,
    sources,
    fingerprint: fingerprintLines(assembled.lines),
  }
}

export interface BuildResult {
  /** 'created' (first build), 'replaced' (an unexported build superseded), 'corrected' (an exported day changed), 'unchanged', 'empty' (nothing happened that day). */
  outcome: 'created' | 'replaced' | 'corrected' | 'unchanged' | 'empty'
  /** The day's current daily voucher. */
  voucher: VoucherRow | null
  /** Correcting vouchers built now (reversal, difference). */
  corrections: VoucherRow[]
}

const dayStamp = (d: string) => d.replaceAll('-', '')
const referenceOf = (storeCode: string | null, businessDate: string, suffix: string) => `TB-${storeCode ?? 'ALL'}-${dayStamp(businessDate)}-${suffix}`

/** A UUID-shaped key for targets' idempotency headers, derived from the merchant and the reference. */
export function idempotencyKeyOf(merchantId: string, reference: string): string {
  return nameUuid(`voucher:${merchantId}:${reference}`)
}

type NetKey = string
/** The net amount per (account, dimensions, kind, group) of some vouchers' lines: debit positive. */
function netOf(lines: Pick<VoucherLineRow, 'accountKey' | 'accountCode' | 'accountName' | 'dimensions' | 'kind' | 'group' | 'summary' | 'debit' | 'credit'>[]) {
  const net = new Map<NetKey, { line: (typeof lines)[number]; amount: number }>()
  for (const l of lines) {
    // The kinds a merged line names (group.kinds) are for its drill-down: a voucher built before it named them holds the same money.
    const k = JSON.stringify([l.accountCode, Object.entries(l.dimensions).sort(), l.kind, Object.entries(l.group).filter(([g]) => g !== 'kinds').sort()])
    const e = net.get(k)
    if (e) e.amount += l.debit - l.credit
    else net.set(k, { line: l, amount: l.debit - l.credit })
  }
  return net
}

async function insertVoucher(
  tx: Tx,
  v: Omit<typeof vouchers.$inferInsert, 'id' | 'totalDebit' | 'totalCredit' | 'fingerprint'> & { lines: BuiltLine[] },
  sources: DaySources | null,
): Promise<VoucherRow> {
  const totalDebit = v.lines.reduce((n, l) => n + l.debit, 0)
  const totalCredit = v.lines.reduce((n, l) => n + l.credit, 0)
  // The balance gate: nothing unbalanced is ever kept.
  if (totalDebit !== totalCredit) throw conflict('voucher_unbalanced', `debits ${totalDebit} and credits ${totalCredit} differ`)
  const { lines, ...head } = v
  const [row] = await tx
    .insert(vouchers)
    .values({ ...head, id: newId(), totalDebit, totalCredit, fingerprint: fingerprintLines(lines) })
    .returning()
  const CHUNK = 2000
  for (let i = 0; i < lines.length; i += CHUNK) {
    await tx.insert(voucherLines).values(
      lines.slice(i, i + CHUNK).map((l) => ({
        voucherId: row!.id,
        lineNo: l.lineNo,
        merchantId: v.merchantId,
        kind: l.kind,
        group: l.group,
        accountKey: l.accountKey,
        accountCode: l.accountCode,
        accountName: l.accountName,
        dimensions: l.dimensions,
        summary: l.summary,
        debit: l.debit,
        credit: l.credit,
      })),
    )
  }
  if (sources) {
    await tx.insert(voucherSources).values({ voucherId: row!.id, ...sources })
  }
  return row!
}

/** The most a summary (摘要) holds, as its templates (settings): 60 UTF-16 units. */
const SUMMARY_MAX = 60

/** A summary cut to SUMMARY_MAX, never inside a character: an emoji's two halves go together or not at all. */
export const clipSummary = (summary: string): string => {
  const cut = summary.slice(0, SUMMARY_MAX)
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut
}

const numbered = (lines: Omit<BuiltLine, 'lineNo'>[]): BuiltLine[] => lines.map((l, i) => ({ ...l, lineNo: i + 1 }))

/** `reference`, or with the revision after it when a superseded voucher (a reversal built again) already has it. */
async function freeReference(tx: Tx, merchantId: string, reference: string, revision: number): Promise<string> {
  const [taken] = await tx.select({ id: vouchers.id }).from(vouchers).where(and(eq(vouchers.merchantId, merchantId), eq(vouchers.reference, reference)))
  return taken ? `${reference}${revision}` : reference
}

/**
 * Builds the day's voucher and keeps it, or finds it unchanged, or — when the day changed after its voucher was
 * exported — builds the correction. Serialised per (merchant, store, day).
 */
export async function buildVoucher(tx: Tx, day: DayRef, at: Date): Promise<BuildResult> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`voucher:${day.merchantId}:${day.storeId ?? NIL}:${day.businessDate}`}, 0))`)
  const preview = await previewVoucher(tx, day)
  const settings = (await getSettings(tx, day.merchantId)).vouchers
  const store = await storeOf(tx, day.merchantId, day.storeId)
  const dayVouchers = () =>
    tx
      .select()
      .from(vouchers)
      .where(
        and(
          eq(vouchers.merchantId, day.merchantId),
          eq(vouchers.businessDate, day.businessDate),
          day.storeId ? eq(vouchers.storeId, day.storeId) : sql`${vouchers.storeId} is null`,
          ne(vouchers.status, 'superseded'),
        ),
      )
      .orderBy(vouchers.createdAt)
  let existing = await dayVouchers()
  // A voucher sent to a target that gave no clear answer (a lost reply, a timeout, a send that stopped midway) may be
  // there: it is never replaced or built again, for the target would then hold the day twice. It counts as delivered,
  // a change of the day goes to it as a difference, and sending it again finds it at the target first.
  const unsure = await unsettledExports(tx, existing.map((v) => v.id))
  // A correction no target has taken yet, dated where the day is not posted any more (a period closed since, so every
  // target refuses it), is built again: it is superseded, the voucher it corrected is as before it, and a daily
  // revision waiting beside a reversal goes with it; the correction below is then made afresh, on today's date.
  const stale = existing.filter((v) => (v.kind === 'reversal' || v.kind === 'difference') && v.status === 'built' && v.postingDate !== preview.postingDate && !unsure.has(v.id))
  if (stale.length) {
    const ids = stale.map((v) => v.id)
    const firstStale = stale[0]!.createdAt
    const waiting = stale.some((v) => v.kind === 'reversal') ? existing.filter((v) => v.kind === 'daily' && (v.status === 'built' || v.status === 'blocked') && v.createdAt >= firstStale) : []
    await tx.update(vouchers).set({ status: 'superseded' }).where(inArray(vouchers.id, [...ids, ...waiting.map((v) => v.id)]))
    await tx.update(vouchers).set({ status: 'exported', correctedById: null }).where(and(inArray(vouchers.correctedById, ids), eq(vouchers.status, 'corrected')))
    existing = await dayVouchers()
  }
  const lastRevision = (
    await tx.execute<{ n: number | null }>(sql`
      select max(revision)::int as n from vouchers where merchant_id = ${day.merchantId} and business_date = ${day.businessDate}
         and ${day.storeId ? sql`store_id = ${day.storeId}` : sql`store_id is null`}`)
  ).rows[0]!.n ?? 0
  const draft = existing.find((v) => v.kind === 'daily' && (v.status === 'built' || v.status === 'blocked') && !unsure.has(v.id))
  const delivered = existing.filter((v) => v !== draft)
  const status = preview.problems.length ? 'blocked' : 'built'
  const storeCode = store?.code ?? null
  const narration = (kind: string) => `${day.businessDate} ${store ? `${store.code} ${store.name}` : '全部门店'} ${kind}`
  const head = (revision: number, kind: VoucherKind, reference: string, extra: Partial<typeof vouchers.$inferInsert> = {}) => ({
    merchantId: day.merchantId,
    storeId: day.storeId,
    businessDate: day.businessDate,
    revision,
    kind,
    status: status as 'built' | 'blocked',
    reference,
    postingDate: preview.postingDate,
    word: preview.word,
    currency: preview.currency,
    narration: narration(kind === 'daily' ? '日结凭证' : kind === 'reversal' ? '冲销凭证' : '差额调整凭证'),
    rounding: preview.rounding,
    problems: preview.problems,
    createdAt: at,
    ...extra,
  })
  const makeUp = (summary: string) => (preview.postingDate !== day.businessDate ? clipSummary(`补记${day.businessDate} ${summary}`) : summary)
  // The day's lines as its voucher keeps them (a day posted into a later period says so in each summary), and
  // whether a voucher waiting to be exported already holds exactly them, on the same posting date.
  const dayLines = preview.lines.map((l) => ({ ...l, summary: makeUp(l.summary) }))
  const holdsTheDay = (v: VoucherRow) => v.fingerprint === fingerprintLines(dayLines) && v.postingDate === preview.postingDate
  const newDaily = async (revision: number) => insertVoucher(tx, { ...head(revision, 'daily', referenceOf(storeCode, day.businessDate, `R${revision}`)), lines: dayLines }, preview.sources)

  if (delivered.length === 0) {
    if (draft && holdsTheDay(draft) && JSON.stringify(draft.problems) === JSON.stringify(preview.problems)) return { outcome: 'unchanged', voucher: draft, corrections: [] }
    if (!draft && preview.lines.length === 0) return { outcome: 'empty', voucher: null, corrections: [] }
    if (draft) await tx.update(vouchers).set({ status: 'superseded' }).where(eq(vouchers.id, draft.id))
    return { outcome: draft ? 'replaced' : 'created', voucher: await newDaily(lastRevision + 1), corrections: [] }
  }

  // Something was delivered (or is queued as a correction): compare the day now with what the target will hold.
  const deliveredLines = await tx.select().from(voucherLines).where(inArray(voucherLines.voucherId, delivered.map((v) => v.id)))
  const base = netOf(deliveredLines)
  const target = netOf(preview.lines)
  if (draft) {
    // A correction is already waiting with a new revision: replace that revision if the day moved again.
    if (holdsTheDay(draft)) return { outcome: 'unchanged', voucher: draft, corrections: [] }
    await tx.update(vouchers).set({ status: 'superseded' }).where(eq(vouchers.id, draft.id))
    return { outcome: 'replaced', voucher: await newDaily(lastRevision + 1), corrections: [] }
  }
  const keys = new Set([...base.keys(), ...target.keys()])
  const diff: Omit<BuiltLine, 'lineNo'>[] = []
  for (const k of keys) {
    const amount = (target.get(k)?.amount ?? 0) - (base.get(k)?.amount ?? 0)
    if (amount === 0) continue
    const l = (target.get(k) ?? base.get(k))!.line
    diff.push({ kind: l.kind, group: l.group, accountKey: l.accountKey, accountCode: l.accountCode, accountName: l.accountName, dimensions: l.dimensions, summary: makeUp(clipSummary(`调整 ${l.summary}`)), debit: amount > 0 ? amount : 0, credit: amount < 0 ? -amount : 0 })
  }
  if (diff.length === 0) {
    const current = [...delivered].reverse().find((v) => v.kind === 'daily') ?? null
    return { outcome: 'unchanged', voucher: current, corrections: [] }
  }
  if (preview.problems.length) throw invalid('mapping_incomplete', 'the day changed after its voucher was exported, but the mapping misses accounts: fix it to build the correction', { problems: preview.problems })

  const latestDaily = [...delivered].reverse().find((v) => v.kind === 'daily' && v.status === 'exported')
  const onlyDaily = latestDaily && delivered.every((v) => v.id === latestDaily.id || v.status === 'corrected' || v.kind === 'reversal')
  // The day's voucher, which a difference corrects: still the day's after an earlier difference corrected it.
  const daily = latestDaily ?? [...delivered].reverse().find((v) => v.kind === 'daily') ?? null
  const revision = lastRevision + 1
  // Reversals took back every revision the targets hold (the day's records had all left this store's voucher): the
  // day is booked afresh by a new revision, as after any reversal, not corrected by a difference.
  if (settings.correction === 'reversal' && !latestDaily && [...base.values()].every((b) => b.amount === 0)) {
    return { outcome: 'created', voucher: await newDaily(revision), corrections: [] }
  }
  let corrections: VoucherRow[]
  let current: VoucherRow | null
  if (settings.correction === 'reversal' && latestDaily && onlyDaily) {
    const original = await tx.select().from(voucherLines).where(eq(voucherLines.voucherId, latestDaily.id)).orderBy(voucherLines.lineNo)
    const reversal = await insertVoucher(
      tx,
      {
        ...head(latestDaily.revision, 'reversal', await freeReference(tx, day.merchantId, `${latestDaily.reference}-X`, revision), { correctsId: latestDaily.id, status: 'built', problems: [], rounding: -latestDaily.rounding }),
        narration: `${narration('冲销凭证')} 冲销 ${latestDaily.reference}`,
        lines: numbered(original.map((l) => ({ kind: l.kind, group: l.group, accountKey: l.accountKey, accountCode: l.accountCode, accountName: l.accountName, dimensions: l.dimensions, summary: makeUp(clipSummary(`冲销 ${l.summary}`)), debit: l.credit, credit: l.debit }))),
      },
      null,
    )
    // A day with nothing left to book (its records all moved to another store's voucher) is cleared by the reversal
    // alone: an empty revision would be refused by every target.
    current = preview.lines.length ? await newDaily(revision) : null
    corrections = [reversal]
    await tx.update(vouchers).set({ status: 'corrected', correctedById: reversal.id }).where(eq(vouchers.id, latestDaily.id))
  } else {
    const difference = await insertVoucher(
      tx,
      {
        ...head(revision, 'difference', referenceOf(storeCode, day.businessDate, `D${revision}`), { correctsId: daily?.id ?? null, status: 'built', problems: [], rounding: 0 }),
        narration: `${narration('差额调整凭证')}${daily ? ` 调整 ${daily.reference}` : ''}`,
        lines: numbered(diff.sort((a, b) => (a.debit > 0 ? 0 : 1) - (b.debit > 0 ? 0 : 1) || a.accountCode.localeCompare(b.accountCode))),
      },
      preview.sources,
    )
    if (daily) await tx.update(vouchers).set({ status: 'corrected', correctedById: difference.id }).where(eq(vouchers.id, daily.id))
    corrections = [difference]
    current = daily
  }
  await recordEvents(tx, day.merchantId, [
    {
      type: 'voucher.corrected',
      entityType: 'voucher',
      entityId: (daily ?? corrections[0]!).id,
      data: { businessDate: day.businessDate, storeId: day.storeId, corrections: corrections.map((c) => c.reference), mode: corrections[0]!.kind, postingDate: preview.postingDate },
    },
  ])
  return { outcome: 'corrected', voucher: current, corrections }
}

/**
 * The vouchers among `ids` sent to some target that has not answered clearly: the last attempt got no clear answer (no
 * reply, a timeout, a 500), or one is being sent (a lease taken, also one whose process stopped midway).
 */
async function unsettledExports(tx: Tx, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const rows = await tx
    .select({ id: voucherExports.voucherId, status: voucherExports.status, unanswered: voucherExports.unanswered, sendingUntil: voucherExports.sendingUntil })
    .from(voucherExports)
    .where(inArray(voucherExports.voucherId, ids))
  return new Set(rows.filter(isUnsettled).map((r) => r.id))
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

export async function getVoucher(tx: Tx, merchantId: string, id: string): Promise<VoucherRow> {
  const [v] = await tx.select().from(vouchers).where(and(eq(vouchers.id, id), eq(vouchers.merchantId, merchantId)))
  if (!v) throw notFound('voucher', id)
  return v
}

export const voucherLinesOf = (tx: Tx, voucherId: string) => tx.select().from(voucherLines).where(eq(voucherLines.voucherId, voucherId)).orderBy(voucherLines.lineNo)

export const exportsOf = (tx: Tx, voucherId: string) => tx.select().from(voucherExports).where(eq(voucherExports.voucherId, voucherId)).orderBy(voucherExports.createdAt)

/**
 * Vouchers newest day first, a day's by store (the merchant's own first) and in the order they were made. `after`: the
 * id of the previous page's last voucher; the page then holds `limit` rows after it.
 */
export async function listVouchers(
  tx: Tx,
  merchantId: string,
  f: { from?: string; to?: string; storeId?: string; status?: string; includeSuperseded?: boolean; after?: string; limit: number },
) {
  if (f.after) await checkRowCursor(tx, vouchers, merchantId, f.after)
  const storeKey = sql`coalesce(${vouchers.storeId}, '00000000-0000-0000-0000-000000000000'::uuid)`
  return tx
    .select()
    .from(vouchers)
    .where(
      and(
        eq(vouchers.merchantId, merchantId),
        f.from ? sql`${vouchers.businessDate} >= ${f.from}` : undefined,
        f.to ? sql`${vouchers.businessDate} <= ${f.to}` : undefined,
        f.storeId ? eq(vouchers.storeId, f.storeId) : undefined,
        f.status ? eq(vouchers.status, f.status as 'built') : f.includeSuperseded ? undefined : ne(vouchers.status, 'superseded'),
        f.after
          ? sql`exists (select 1 from vouchers c where c.id = ${f.after} and (${vouchers.businessDate} < c.business_date or (${vouchers.businessDate} = c.business_date
              and (${storeKey}, ${vouchers.createdAt}, ${vouchers.id}) > (coalesce(c.store_id, '00000000-0000-0000-0000-000000000000'::uuid), c.created_at, c.id))))`
          : undefined,
      ),
    )
    .orderBy(desc(vouchers.businessDate), storeKey, vouchers.createdAt, vouchers.id)
    .limit(f.limit)
}

/** What a target receives: the voucher with its lines in the connector's document shape. */
export async function voucherDocumentOf(tx: Tx, merchantId: string, id: string) {
  const v = await getVoucher(tx, merchantId, id)
  const store = await storeOf(tx, merchantId, v.storeId)
  const lines = await voucherLinesOf(tx, id)
  const corrects = v.correctsId ? (await getVoucher(tx, merchantId, v.correctsId)).reference : null
  return {
    voucher: v,
    document: {
      reference: v.reference,
      idempotencyKey: idempotencyKeyOf(merchantId, v.reference),
      kind: v.kind,
      date: v.postingDate,
      businessDate: v.businessDate,
      word: v.word,
      currency: v.currency,
      corrects,
      narration: v.narration,
      store: store ? { id: store.id, code: store.code, name: store.name } : null,
      lines: lines.map((l) => ({ lineNo: l.lineNo, summary: l.summary, account: { code: l.accountCode, name: l.accountName }, dimensions: l.dimensions, debit: l.debit, credit: l.credit })),
      attachments: 0,
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Exports

export type ExportRow = typeof voucherExports.$inferSelect

/**
 * Claims the delivery of a voucher to a connection. An exported (or duplicate-found) delivery is final: asking
 * again returns it and nothing is sent. A superseded or blocked voucher cannot be exported.
 */
/**
 * Claims the delivery of a voucher to a connection: done when it was delivered already, busy while another export of it
 * holds the sending lease (until `leaseMs` after it began); otherwise this one takes the lease, and recordExport gives
 * it back. One delivery at a time, without a connection held open while the target answers.
 */
export async function claimExport(tx: Tx, merchantId: string, voucherId: string, connectionId: string, at: Date, leaseMs: number): Promise<{ row: ExportRow; done: boolean; busy: boolean }> {
  const [v] = await tx.select().from(vouchers).where(and(eq(vouchers.id, voucherId), eq(vouchers.merchantId, merchantId))).for('update')
  if (!v) throw notFound('voucher', voucherId)
  if (v.status === 'superseded') throw conflict('voucher_superseded', `voucher ${v.reference} was replaced by a later build of its day; export the current one`)
  if (v.status === 'blocked') throw invalid('voucher_blocked', `voucher ${v.reference} cannot be exported: ${v.problems.map((p) => p.message).join('; ')}`, { problems: v.problems })
  if (v.totalDebit !== v.totalCredit) throw conflict('voucher_unbalanced', `voucher ${v.reference} does not balance`)
  await tx.insert(voucherExports).values({ id: newId(), merchantId, voucherId, connectionId, status: 'pending', createdAt: at, updatedAt: at }).onConflictDoNothing()
  const [row] = await tx
    .select()
    .from(voucherExports)
    .where(and(eq(voucherExports.voucherId, voucherId), eq(voucherExports.connectionId, connectionId)))
    .for('update')
  const done = row!.status === 'exported' || row!.status === 'duplicate'
  if (done) return { row: row!, done, busy: false }
  await assertTargetNeeds(tx, v, connectionId)
  if (row!.sendingUntil && row!.sendingUntil > at) return { row: row!, done, busy: true }
  const [leased] = await tx.update(voucherExports).set({ sendingUntil: new Date(at.getTime() + leaseMs) }).where(eq(voucherExports.id, row!.id)).returning()
  return { row: leased!, done, busy: false }
}

/**
 * Why a target must not be sent a voucher, if it must not (the rule the export queue and claimExport share): a
 * reversal of a voucher the target never took would take off what it never had; a voucher reversed before the target
 * took it is not the day's any more (the new revision holds the day). `holds` says whether the target took a voucher,
 * `reversed` whether a (live) reversal reverses one, `unsure` whether the target was sent one without a clear answer:
 * such a voucher may be there, so it is sent again (found there first, or taken now), and its reversal goes after it.
 */
export function notNeeded(
  v: Pick<VoucherRow, 'id' | 'kind' | 'status' | 'correctsId'>,
  holds: (voucherId: string) => boolean,
  reversed: (voucherId: string) => boolean,
  unsure: (voucherId: string) => boolean,
): 'voucher_not_held' | 'voucher_reversed' | null {
  if (v.kind === 'reversal' && v.correctsId && !holds(v.correctsId) && !unsure(v.correctsId)) return 'voucher_not_held'
  if (v.status === 'corrected' && reversed(v.id) && !unsure(v.id)) return 'voucher_reversed'
  return null
}

/**
 * Ids of the vouchers among `ids` with a delivery that failed or was refused and that its target still needs (a person
 * must act): not one notNeeded says the target must not be sent any more (reversed before it took it, say).
 */
export async function failedDeliveriesToMend(tx: Tx, merchantId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const failed = await tx
    .select({ id: vouchers.id, connectionId: voucherExports.connectionId, kind: vouchers.kind, status: vouchers.status, correctsId: vouchers.correctsId })
    .from(voucherExports)
    .innerJoin(vouchers, eq(vouchers.id, voucherExports.voucherId))
    .where(and(eq(voucherExports.merchantId, merchantId), inArray(voucherExports.voucherId, ids), inArray(voucherExports.status, ['failed', 'rejected'])))
  if (failed.length === 0) return new Set()
  const related = [...new Set(failed.flatMap((f) => (f.correctsId ? [f.id, f.correctsId] : [f.id])))]
  const rows = await tx.select().from(voucherExports).where(inArray(voucherExports.voucherId, related))
  const reversals = await tx
    .select({ correctsId: vouchers.correctsId })
    .from(vouchers)
    .where(and(inArray(vouchers.correctsId, failed.map((f) => f.id)), eq(vouchers.kind, 'reversal'), ne(vouchers.status, 'superseded')))
  const targets = targetsOf(rows, new Set(reversals.map((r) => r.correctsId)))
  return new Set(failed.filter((f) => !targets.needless(f, f.connectionId)).map((f) => f.id))
}

/**
 * What the targets hold of some vouchers, from their deliveries, and the reversals there are of them: whether a target
 * holds a voucher, and whether notNeeded says it must not be sent one (the export queue and the dashboard ask alike).
 */
export function targetsOf(rows: Pick<ExportRow, 'voucherId' | 'connectionId' | 'status' | 'unanswered' | 'sendingUntil'>[], reversed: Set<string | null>) {
  const key = (voucherId: string, connectionId: string) => `${voucherId}:${connectionId}`
  const held = new Set(rows.filter((r) => r.status === 'exported' || r.status === 'duplicate').map((r) => key(r.voucherId, r.connectionId)))
  const unsure = new Set(rows.filter(isUnsettled).map((r) => key(r.voucherId, r.connectionId)))
  return {
    holds: (voucherId: string, connectionId: string) => held.has(key(voucherId, connectionId)),
    needless: (v: Pick<VoucherRow, 'id' | 'kind' | 'status' | 'correctsId'>, connectionId: string) =>
      notNeeded(v, (id) => held.has(key(id, connectionId)), (id) => reversed.has(id), (id) => unsure.has(key(id, connectionId))) !== null,
  }
}

/** A delivery sent without a clear answer, or being sent (see unsettledExports). */
export const isUnsettled = (row: Pick<ExportRow, 'status' | 'unanswered' | 'sendingUntil'>) => (row.status === 'pending' || row.status === 'failed') && (row.unanswered || row.sendingUntil !== null)

/** Refuses what notNeeded refuses, saying which voucher is missing or which reversal came first. */
async function assertTargetNeeds(tx: Tx, v: VoucherRow, connectionId: string): Promise<void> {
  const sent = await tx
    .select()
    .from(voucherExports)
    .where(and(inArray(voucherExports.voucherId, v.correctsId ? [v.id, v.correctsId] : [v.id]), eq(voucherExports.connectionId, connectionId)))
  const own = sent.find((x) => x.voucherId === v.id)
  const original = sent.find((x) => x.voucherId === v.correctsId)
  const held = original && (original.status === 'exported' || original.status === 'duplicate')
  const [reversal] =
    v.status === 'corrected'
      ? await tx.select({ reference: vouchers.reference }).from(vouchers).where(and(eq(vouchers.correctsId, v.id), eq(vouchers.kind, 'reversal'), ne(vouchers.status, 'superseded')))
      : []
  const unsure = (id: string) => {
    const row = id === v.id ? own : original
    return row !== undefined && isUnsettled(row)
  }
  const why = notNeeded(v, () => Boolean(held), () => reversal !== undefined, unsure)
  if (why === 'voucher_not_held') {
    const [original] = await tx.select({ reference: vouchers.reference }).from(vouchers).where(eq(vouchers.id, v.correctsId!))
    throw conflict(why, `voucher ${v.reference} reverses ${original?.reference ?? v.correctsId}, which this connection never received: it needs the day's current voucher only`)
  }
  if (why === 'voucher_reversed') throw conflict(why, `voucher ${v.reference} was reversed by ${reversal!.reference} before this connection received it: export the day's current voucher instead`)
  if (v.kind === 'reversal' && v.correctsId && !held) {
    const [first] = await tx.select({ reference: vouchers.reference }).from(vouchers).where(eq(vouchers.id, v.correctsId))
    throw conflict('voucher_not_settled', `voucher ${v.reference} reverses ${first?.reference ?? v.correctsId}, sent to this connection without a clear answer: export that one again first`)
  }
}

/** Gives the sending lease back without an outcome (the delivery stopped on a fault of ours before the target answered). */
export async function releaseExport(tx: Tx, merchantId: string, voucherId: string, connectionId: string): Promise<void> {
  await tx
    .update(voucherExports)
    .set({ sendingUntil: null })
    .where(and(eq(voucherExports.merchantId, merchantId), eq(voucherExports.voucherId, voucherId), eq(voucherExports.connectionId, connectionId)))
}

export type ExportOutcome =
  | { status: 'exported' | 'duplicate'; externalId: string; number: string | null }
  | { status: 'rejected'; reason: string; code: string; message: string }
  /** `unanswered`: the target may have taken it (no reply, a timeout, a 500), so it is sent again before anything replaces it. */
  | { status: 'failed'; message: string; unanswered?: boolean }
  | { status: 'retrying'; message: string; unanswered?: boolean }

/** Records what a delivery attempt came to; a first successful delivery marks the voucher exported (immutable). */
export async function recordExport(tx: Tx, merchantId: string, voucherId: string, connectionId: string, outcome: ExportOutcome, at: Date): Promise<ExportRow> {
  const ok = outcome.status === 'exported' || outcome.status === 'duplicate'
  // The voucher first, then its export, as claimExport takes them: the other order deadlocks with an export waiting
  // for the lease (409 concurrent_update to one of five exports of a voucher at once).
  await tx.select({ id: vouchers.id }).from(vouchers).where(and(eq(vouchers.id, voucherId), eq(vouchers.merchantId, merchantId))).for('update')
  const [row] = await tx
    .update(voucherExports)
    .set({
      status: outcome.status === 'retrying' ? 'pending' : outcome.status,
      externalId: ok ? outcome.externalId : undefined,
      externalNumber: ok ? outcome.number : undefined,
      attempts: sql`${voucherExports.attempts} + 1`,
      lastError: outcome.status === 'rejected' ? `${outcome.code}: ${outcome.message}` : outcome.status === 'failed' || outcome.status === 'retrying' ? outcome.message : null,
      rejectReason: outcome.status === 'rejected' ? outcome.reason : null,
      refusals: outcome.status === 'rejected' ? sql`${voucherExports.refusals} + 1` : undefined,
      updatedAt: at,
      exportedAt: ok ? at : undefined,
      sendingUntil: null,
      // Once an attempt went without a clear answer, the voucher may be there until the target says it is or refuses
      // it: a later attempt refused outright (a 503 on the lookup) proves nothing about the earlier one.
      unanswered: outcome.status === 'failed' || outcome.status === 'retrying' ? sql`${voucherExports.unanswered} or ${outcome.unanswered === true}` : false,
    })
    .where(and(eq(voucherExports.voucherId, voucherId), eq(voucherExports.connectionId, connectionId), eq(voucherExports.merchantId, merchantId)))
    .returning()
  const v = await getVoucher(tx, merchantId, voucherId)
  if (ok) {
    if (v.status === 'built') await tx.update(vouchers).set({ status: 'exported', exportedAt: at }).where(eq(vouchers.id, voucherId))
    await recordEvents(tx, merchantId, [
      { type: 'voucher.exported', entityType: 'voucher', entityId: voucherId, data: { reference: v.reference, businessDate: v.businessDate, storeId: v.storeId, connectionId, externalId: outcome.externalId, number: outcome.number, duplicate: outcome.status === 'duplicate' } },
    ])
  } else if (outcome.status === 'rejected' || outcome.status === 'failed') {
    await recordEvents(tx, merchantId, [
      { type: 'voucher.export_failed', entityType: 'voucher', entityId: voucherId, data: { reference: v.reference, businessDate: v.businessDate, storeId: v.storeId, connectionId, status: outcome.status, error: row!.lastError } },
    ])
  }
  return row!
}
