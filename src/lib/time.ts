// Business days are calendar days in the merchant's time zone: a sale at 23:30 in Shanghai belongs to that day,
// whatever the server's clock zone. This is the one place that turns instants into business dates and back.

// Building an Intl formatter is costly; one per time zone is kept.
const dayFormats = new Map<string, Intl.DateTimeFormat>()

/** The business date ('YYYY-MM-DD') of an instant in a time zone. */
/**
 * Whether `tz` names an IANA time zone the runtime knows: current names (Asia/Kolkata, Europe/Kyiv, Etc/UTC) as well
 * as old aliases (Asia/Calcutta), which the runtime's own list of zones may not all hold. Never a bare offset: SQL
 * reads "+08:00" as POSIX does, with the opposite sign.
 */
export function isTimeZone(tz: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

export function businessDate(at: Date, timeZone: string): string {
  let f = dayFormats.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    dayFormats.set(timeZone, f)
  }
  const parts = f.formatToParts(at)
  const get = (t: string) => parts.find((p) => p.type === t)!.value
  return `${get('year')}-${get('month')}-${get('day')}`
}

/** Offset of the time zone from UTC at an instant, in minutes (Asia/Shanghai: +480). */
export function zoneOffsetMinutes(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(at)
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value)
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'))
  return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60_000)
}

/** The instant a business date starts in a time zone (handles DST by re-checking the offset at the result). */
export function startOfBusinessDay(date: string, timeZone: string): Date {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`${date} is not a YYYY-MM-DD date`)
  const [y, m, d] = date.split('-').map(Number) as [number, number, number]
  const utcMidnight = Date.UTC(y, m - 1, d)
  let guess = new Date(utcMidnight - zoneOffsetMinutes(new Date(utcMidnight), timeZone) * 60_000)
  guess = new Date(utcMidnight - zoneOffsetMinutes(guess, timeZone) * 60_000)
  if (businessDate(guess, timeZone) === date) return guess
  // Local midnight never happens where the clocks jump forward at midnight (Santiago, Havana): the day starts when
  // they jump, the first instant whose date is `date` (within the hours after the guess).
  let before = guess.getTime()
  let within = before + 3 * 3600_000
  while (within - before > 1) {
    const mid = Math.floor((before + within) / 2)
    if (businessDate(new Date(mid), timeZone) === date) within = mid
    else before = mid
  }
  return new Date(within)
}

/**
 * The instant the clocks of a time zone read `time` (HH:MM) on a business date. A time the clocks skip (they jump
 * forward over it) is the instant they jump; a time they show twice (they go back) is its first showing.
 */
export function localInstant(date: string, time: string, timeZone: string): Date {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(time)
  if (!m || !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`${date} ${time} is not a YYYY-MM-DD date and HH:MM time`)
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number]
  const naive = Date.UTC(y, mo - 1, d, Number(m[1]), Number(m[2]))
  // The zone's offsets a day before and a day after: a change of clocks that day lies between them.
  const offsets = [zoneOffsetMinutes(new Date(naive - 86_400_000), timeZone), zoneOffsetMinutes(new Date(naive + 86_400_000), timeZone)]
  const shows = offsets
    .map((o) => new Date(naive - o * 60_000))
    .filter((t) => businessDate(t, timeZone) === date && localTimeOfDay(t, timeZone) === time)
    .sort((a, b) => a.getTime() - b.getTime())
  if (shows[0]) return shows[0]
  // Skipped: read with the offset before the jump, the time lands just after it; the jump is the hour it falls in.
  const after = naive - offsets[0]! * 60_000
  const jump = Math.abs(offsets[1]! - offsets[0]!) * 60_000
  let lo = after - jump
  let hi = after
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2)
    if (zoneOffsetMinutes(new Date(mid), timeZone) === offsets[0]) lo = mid
    else hi = mid
  }
  return new Date(Math.ceil(hi / 1000) * 1000)
}

/** [start, end) of a business date as instants. */
export function businessDayRange(date: string, timeZone: string): { start: Date; end: Date } {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number]
  const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10)
  return { start: startOfBusinessDay(date, timeZone), end: startOfBusinessDay(next, timeZone) }
}

/** The local time of day at `at` in `timeZone`, as HH:MM (24-hour clock). */
/** An instant as the merchant's wall clock reads it, in ISO 8601 with its offset: 2026-11-21T09:00:00+08:00. */
export function localIso(at: Date, timeZone: string): string {
  const offset = zoneOffsetMinutes(at, timeZone)
  const local = new Date(Math.floor(at.getTime() / 1000) * 1000 + offset * 60_000).toISOString().slice(0, 19)
  const a = Math.abs(offset)
  return `${local}${offset < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`
}

export function localTimeOfDay(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at)
}

export const addDays = (date: string, days: number): string => {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number]
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10)
}

/** The month (YYYY-MM) `months` after `month`; before it when negative. */
export const addMonths = (month: string, months: number): string => {
  const [y, m] = month.split('-').map(Number) as [number, number]
  return new Date(Date.UTC(y, m - 1 + months, 1)).toISOString().slice(0, 7)
}

/** Whole days from one calendar date (YYYY-MM-DD) to another: negative when `to` is earlier. */
export const daysBetween = (from: string, to: string): number => (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000

export const isDate = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s)
