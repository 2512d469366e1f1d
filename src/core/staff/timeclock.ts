// The time clock: staff clock in and out at a register with their PIN, and take breaks; hours per person per
// period for payroll.
//
// Hours rule:
// - Entries count to the minute: seconds are dropped from each entry's time, so every figure is whole minutes.
// - A shift runs from a clock-in to the next clock-out. Worked time is the shift less its breaks; a break still
//   running at clock-out ends there.
// - Time counts in the period (and business day, in the merchant's time zone) in which it was worked: a shift
//   across midnight or across the edge of the period is split there, and only the part inside is counted.
// - A shift with no clock-out yet is open: it is reported as open (since when, and whether on a break) and none of
//   it is counted, rather than pretending it ends now.
//
// Corrections: a manager (timeclock.manage) adds an entry by hand (a forgotten clock-out) or voids one (a break never
// taken), each with a reason, audited; never their own entries, never one in the future, and never so that a
// person's entries would be out of order. A voided entry stays listed and no longer counts.
import { and, asc, eq, inArray, notExists, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import type { Locale } from '../../lib/i18n/locale.ts'
import { conflict, forbidden, invalid, notFound } from '../../lib/errors.ts'
import type { SecretBox } from '../../lib/secrets.ts'
import { addDays, businessDayRange, isDate } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import { csvFile, type CsvFile } from '../reports/csv.ts'
import type { Actor } from './actor.ts'
import { recordAudit } from './audit.ts'
import { identifyByPin, type PinPolicy } from './pins.ts'
import type { Role } from './permissions.ts'
import { timeEntries, timeEntryVoids, users } from './schema.ts'

export const CLOCK_ACTIONS = ['clock_in', 'clock_out', 'break_start', 'break_end'] as const
export type ClockAction = (typeof CLOCK_ACTIONS)[number]
export type ClockState = 'off' | 'working' | 'on_break'
export type TimeEntry = typeof timeEntries.$inferSelect
/** An entry as listed: with its void, if a manager voided it. */
export type ListedEntry = TimeEntry & { voidedAt: Date | null; voidedBy: string | null; voidReason: string | null }

/** Entries that count: those no manager voided. */
const counts = notExists(sql`(select 1 from ${timeEntryVoids} where ${timeEntryVoids.entryId} = ${timeEntries.id})`)

const stateAfter = (kind: ClockAction | undefined): ClockState => (kind === 'clock_in' || kind === 'break_end' ? 'working' : kind === 'break_start' ? 'on_break' : 'off')

/** Which actions each state allows, and the conflict each refusal answers with. */
function checkOrder(state: ClockState, action: ClockAction) {
  const refuse = (code: string, message: string) => conflict(code, message, { state, action })
  if (action === 'clock_in' && state !== 'off') throw refuse('already_clocked_in', 'already clocked in; clock out first')
  if (action !== 'clock_in' && state === 'off') throw refuse('not_clocked_in', 'not clocked in')
  if (action === 'break_start' && state === 'on_break') throw refuse('already_on_break', 'already on a break')
  if (action === 'break_end' && state !== 'on_break') throw refuse('not_on_break', 'not on a break')
}

/** Records a clock action for a user, refusing one out of order (409). Serialised per user by locking their row. */
export async function recordClockAction(tx: Tx, actor: Actor, input: { userId: string; registerId: string | null; action: ClockAction; at: Date }): Promise<{ entry: TimeEntry; state: ClockState }> {
  await tx.select({ id: users.id }).from(users).where(and(eq(users.merchantId, actor.merchantId), eq(users.id, input.userId))).for('update')
  const [last] = await tx
    .select({ kind: timeEntries.kind, at: timeEntries.at })
    .from(timeEntries)
    .where(and(eq(timeEntries.merchantId, actor.merchantId), eq(timeEntries.userId, input.userId), counts))
    .orderBy(sql`${timeEntries.at} desc, ${timeEntries.id} desc`)
    .limit(1)
  checkOrder(stateAfter(last?.kind), input.action)
  // An entry never goes before the last one, so a clock set back cannot make a negative shift.
  const at = last && last.at > input.at ? last.at : input.at
  const [entry] = await tx.insert(timeEntries).values({ merchantId: actor.merchantId, userId: input.userId, registerId: input.registerId, kind: input.action, at }).returning()
  return { entry: entry!, state: stateAfter(input.action) }
}

/** A clock action at a register, the person named by their PIN (throttled and audited like PIN sign-in). */
export async function clockWithPin(db: Tx, secrets: SecretBox, input: { registerId: string; pin: string; action: ClockAction }, policy: PinPolicy, now: Date) {
  const { user, register } = await identifyByPin(db, secrets, { registerId: input.registerId, pin: input.pin, purpose: 'timeclock' }, policy, now)
  const actor: Actor = { type: 'user', id: user.id, name: user.email, merchantId: user.merchantId, role: user.role as Role }
  const r = await db.transaction((tx) => recordClockAction(tx, actor, { userId: user.id, registerId: register.id, action: input.action, at: now }))
  return { ...r, user }
}

// ─── Corrections ─────────────────────────────────────────────────────────────────────────────────────────────

/** Locks the person (as a clock action does) and returns their entries that count, in time order. */
async function lockedEntries(tx: Tx, actor: Actor, userId: string) {
  const [u] = await tx.select({ id: users.id }).from(users).where(and(eq(users.merchantId, actor.merchantId), eq(users.id, userId))).for('update')
  if (!u) throw notFound('user', userId)
  if (actor.type === 'user' && actor.id === userId) throw forbidden('own_time_entry', 'a manager corrects the time of others; another manager corrects yours')
  return tx
    .select({ id: timeEntries.id, kind: timeEntries.kind, at: timeEntries.at })
    .from(timeEntries)
    .where(and(eq(timeEntries.merchantId, actor.merchantId), eq(timeEntries.userId, userId), counts))
    .orderBy(asc(timeEntries.at), asc(timeEntries.id))
}

/** Refuses a person's entries that would be out of order (409 time_entries_out_of_order, naming the first). */
function assertInOrder(entries: { kind: ClockAction; at: Date }[], change: string) {
  let state: ClockState = 'off'
  for (const e of entries) {
    try {
      checkOrder(state, e.kind)
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err)
      throw conflict('time_entries_out_of_order', `${change} would leave this person's entries out of order: ${e.kind} at ${e.at.toISOString()} (${why})`, { kind: e.kind, at: e.at.toISOString() })
    }
    state = stateAfter(e.kind)
  }
}

/**
 * A manager adds entries a person missed, at the times they happened: a forgotten clock-out, or a whole shift (its
 * clock-in and clock-out together, so the entries are in order once both are in). An added entry goes after one
 * already there at the same time; entries given at one time keep their order.
 */
export async function addTimeEntries(tx: Tx, actor: Actor, input: { userId: string; entries: { action: ClockAction; at: Date }[]; reason: string }, now: Date): Promise<TimeEntry[]> {
  if (input.entries.some((e) => e.at > now)) throw invalid('time_entry_in_future', 'entries are added for times that have passed')
  const existing = await lockedEntries(tx, actor, input.userId)
  const added = input.entries.map((e, i) => ({ kind: e.action, at: e.at, i })).sort((a, b) => a.at.getTime() - b.at.getTime() || a.i - b.i)
  const merged = [...existing.map((e) => ({ ...e, i: -1 })), ...added].sort((a, b) => a.at.getTime() - b.at.getTime() || (a.i < 0 ? (b.i < 0 ? 0 : -1) : b.i < 0 ? 1 : a.i - b.i))
  assertInOrder(merged, added.length === 1 ? `a ${added[0]!.kind} at ${added[0]!.at.toISOString()}` : `these ${added.length} entries`)
  const out: TimeEntry[] = []
  for (const e of added) {
    const [entry] = await tx
      .insert(timeEntries)
      .values({ merchantId: actor.merchantId, userId: input.userId, registerId: null, kind: e.kind, at: e.at, addedBy: actor.type === 'user' ? actor.id : null, reason: input.reason })
      .returning()
    await recordAudit(tx, actor, { action: 'timeclock.entry_added', entityType: 'user', entityId: input.userId, details: { entryId: entry!.id, userId: input.userId, kind: e.kind, at: e.at.toISOString(), reason: input.reason } })
    out.push(entry!)
  }
  return out
}

/** A manager takes back an entry that should not count (a break never taken, a clock-in by mistake). */
export async function voidTimeEntry(tx: Tx, actor: Actor, entryId: number, reason: string, now: Date): Promise<ListedEntry> {
  const [entry] = await tx.select().from(timeEntries).where(and(eq(timeEntries.merchantId, actor.merchantId), eq(timeEntries.id, entryId)))
  if (!entry) throw notFound('time_entry', String(entryId))
  const entries = await lockedEntries(tx, actor, entry.userId)
  if (!entries.some((e) => e.id === entryId)) throw conflict('time_entry_voided', 'this entry was voided already')
  assertInOrder(entries.filter((e) => e.id !== entryId), `voiding the ${entry.kind} at ${entry.at.toISOString()}`)
  const voidedBy = actor.type === 'user' ? actor.id : null
  await tx.insert(timeEntryVoids).values({ entryId, merchantId: actor.merchantId, voidedBy, reason, voidedAt: now })
  await recordAudit(tx, actor, { action: 'timeclock.entry_voided', entityType: 'user', entityId: entry.userId, details: { entryId, userId: entry.userId, kind: entry.kind, at: entry.at.toISOString(), reason } })
  return { ...entry, voidedAt: now, voidedBy, voidReason: reason }
}

/** A person's (or everyone's) entries over business dates `from`..`to`, voided ones too, in time order. */
export async function listTimeEntries(tx: Tx, merchantId: string, q: { from: string; to: string; userIds?: string[] }): Promise<ListedEntry[]> {
  if (!isDate(q.from) || !isDate(q.to)) throw invalid('invalid_date', 'from and to are dates (YYYY-MM-DD)')
  if (q.from > q.to) throw invalid('invalid_period', 'from is after to')
  if (addDays(q.from, 31) <= q.to) throw invalid('period_too_long', 'entries are listed for at most 31 days at a time')
  const { timeZone } = await getSettings(tx, merchantId)
  const start = businessDayRange(q.from, timeZone).start
  const end = businessDayRange(q.to, timeZone).end
  const rows = await tx
    .select({ entry: timeEntries, void: timeEntryVoids })
    .from(timeEntries)
    .leftJoin(timeEntryVoids, eq(timeEntryVoids.entryId, timeEntries.id))
    .where(
      and(
        eq(timeEntries.merchantId, merchantId),
        q.userIds ? (q.userIds.length ? inArray(timeEntries.userId, q.userIds) : sql`false`) : undefined,
        sql`${timeEntries.at} >= ${start.toISOString()}::timestamptz and ${timeEntries.at} < ${end.toISOString()}::timestamptz`,
      ),
    )
    .orderBy(asc(timeEntries.userId), asc(timeEntries.at), asc(timeEntries.id))
  return rows.map((r) => ({ ...r.entry, voidedAt: r.void?.voidedAt ?? null, voidedBy: r.void?.voidedBy ?? null, voidReason: r.void?.reason ?? null }))
}

// ─── Hours ─────────────────────────────────────────────────────────────────────────────────────────────────────

const MINUTE = 60_000
const toMinute = (d: Date) => Math.floor(d.getTime() / MINUTE) * MINUTE

interface Span {
  start: number
  end: number
}

const overlap = (a: Span, b: Span) => Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start))

interface Shift {
  start: number
  end: number | null
  breaks: Span[]
  /** A break begun and not yet ended (only on an open shift). */
  openBreak: number | null
}

/** Replays one person's entries (in time order) into shifts. */
function shiftsOf(entries: { kind: ClockAction; at: Date }[]): Shift[] {
  const shifts: Shift[] = []
  let cur: Shift | undefined
  for (const e of entries) {
    const t = toMinute(e.at)
    if (e.kind === 'clock_in') {
      cur = { start: t, end: null, breaks: [], openBreak: null }
      shifts.push(cur)
    } else if (!cur) {
      continue
    } else if (e.kind === 'break_start') {
      cur.openBreak ??= t
    } else if (e.kind === 'break_end' && cur.openBreak !== null) {
      cur.breaks.push({ start: cur.openBreak, end: t })
      cur.openBreak = null
    } else if (e.kind === 'clock_out') {
      if (cur.openBreak !== null) cur.breaks.push({ start: cur.openBreak, end: t })
      cur.end = t
      cur.openBreak = null
      cur = undefined
    }
  }
  return shifts
}

export interface PersonHours {
  userId: string
  name: string
  email: string
  role: string
  workedMinutes: number
  breakMinutes: number
  /** Closed shifts with time inside the period. */
  shifts: number
  days: { date: string; workedMinutes: number; breakMinutes: number }[]
  /** The shift still running, if any: not counted. */
  open: { clockedInAt: string; onBreak: boolean } | null
}

export interface HoursReport {
  from: string
  to: string
  timeZone: string
  people: PersonHours[]
}

/** Hours per person over business dates `from`..`to` (inclusive) in the merchant's time zone. */
export async function staffHours(tx: Tx, merchantId: string, q: { from: string; to: string; userIds?: string[] }): Promise<HoursReport> {
  if (!isDate(q.from) || !isDate(q.to)) throw invalid('invalid_date', 'from and to are dates (YYYY-MM-DD)')
  if (q.from > q.to) throw invalid('invalid_period', 'from is after to')
  const { timeZone } = await getSettings(tx, merchantId)
  const dates: string[] = []
  for (let d = q.from; d <= q.to; d = addDays(d, 1)) {
    dates.push(d)
    if (dates.length > 366) throw invalid('period_too_long', 'a period is at most 366 days')
  }
  const dayRanges = dates.map((date) => {
    const r = businessDayRange(date, timeZone)
    return { date, span: { start: r.start.getTime(), end: r.end.getTime() } }
  })
  const period: Span = { start: dayRanges[0]!.span.start, end: dayRanges[dayRanges.length - 1]!.span.end }

  // Everything from the latest clock-in at or before the period's start (a shift running into the period) on.
  const byUser = q.userIds ? sql`and e.user_id in ${q.userIds.length ? sql`(${sql.join(q.userIds.map((u) => sql`${u}::uuid`), sql`, `)})` : sql`(null)`}` : sql``
  const startIso = new Date(period.start).toISOString()
  const r = await tx.execute<{ user_id: string; kind: ClockAction; at: Date | string }>(sql`
    select e.user_id, e.kind, e.at from time_entries e
     where e.merchant_id = ${merchantId} ${byUser} and not exists (select 1 from time_entry_voids v where v.entry_id = e.id)
       and e.at >= coalesce((select max(c.at) from time_entries c
                              where c.merchant_id = e.merchant_id and c.user_id = e.user_id and c.kind = 'clock_in' and c.at <= ${startIso}::timestamptz
                                and not exists (select 1 from time_entry_voids v where v.entry_id = c.id)),
                            ${startIso}::timestamptz)
     order by e.user_id, e.at, e.id`)
  const entries = new Map<string, { kind: ClockAction; at: Date }[]>()
  for (const row of r.rows) {
    const list = entries.get(row.user_id) ?? []
    list.push({ kind: row.kind, at: new Date(row.at) })
    entries.set(row.user_id, list)
  }
  const ids = [...new Set([...entries.keys(), ...(q.userIds ?? [])])]
  const people = ids.length ? await tx.select().from(users).where(and(eq(users.merchantId, merchantId), inArray(users.id, ids))).orderBy(asc(users.name), asc(users.email)) : []

  const result: PersonHours[] = []
  for (const u of people) {
    const shifts = shiftsOf(entries.get(u.id) ?? [])
    const days = dayRanges.map((d) => ({ date: d.date, workedMinutes: 0, breakMinutes: 0 }))
    let counted = 0
    let open: PersonHours['open'] = null
    for (const s of shifts) {
      if (s.end === null) {
        // Open in the period only if it began before the period's end (a shift begun after it is not of the period).
        if (s.start < period.end) open = { clockedInAt: new Date(s.start).toISOString(), onBreak: s.openBreak !== null }
        continue
      }
      const shift = { start: s.start, end: s.end }
      if (overlap(shift, period) === 0 && !(s.start >= period.start && s.start < period.end)) continue
      counted++
      dayRanges.forEach((d, i) => {
        const breaks = s.breaks.reduce((a, b) => a + overlap({ start: b.start, end: Math.min(b.end, s.end!) }, d.span), 0)
        days[i]!.breakMinutes += breaks / MINUTE
        days[i]!.workedMinutes += (overlap(shift, d.span) - breaks) / MINUTE
      })
    }
    const workedMinutes = days.reduce((a, d) => a + d.workedMinutes, 0)
    const breakMinutes = days.reduce((a, d) => a + d.breakMinutes, 0)
    if (!q.userIds && counted === 0 && !open) continue
    result.push({ userId: u.id, name: u.name, email: u.email, role: u.role, workedMinutes, breakMinutes, shifts: counted, days: days.filter((d) => d.workedMinutes || d.breakMinutes), open })
  }
  return { from: q.from, to: q.to, timeZone, people: result }
}

/** Minutes as decimal hours with two places ("7.50"), by integer arithmetic (rounded half up). */
export const decimalHours = (minutes: number) => {
  const hundredths = Math.floor((minutes * 100 + 30) / 60)
  return `${Math.floor(hundredths / 100)}.${String(hundredths % 100).padStart(2, '0')}`
}

/** The report as CSV, one line per person. Text a spreadsheet would run as a formula is prefixed with a quote. */
/** The hours of a period as a file for payroll: a line per person, its columns named in the reader's language. */
export function hoursCsv(report: HoursReport, locale: Locale = 'en'): CsvFile {
  return csvFile(
    `hours-${report.from}-${report.to}.csv`,
    {
      header: ['user_id', 'name', 'email', 'role', 'from', 'to', 'worked_minutes', 'worked_hours', 'break_minutes', 'shifts', 'open_shift_since'],
      headerZh: HOURS_ZH,
      rows: report.people.map((p) => [p.userId, p.name, p.email, p.role, report.from, report.to, p.workedMinutes, decimalHours(p.workedMinutes), p.breakMinutes, p.shifts, p.open?.clockedInAt ?? '']),
    },
    locale,
  )
}

const HOURS_ZH: Record<string, string> = {
  name: '姓名',
  email: '邮箱',
  role: '角色',
  from: '开始日期',
  to: '结束日期',
  worked_minutes: '工作分钟',
  worked_hours: '工作小时',
  break_minutes: '休息分钟',
  shifts: '班次数',
  open_shift_since: '未结束班次开始于',
}
