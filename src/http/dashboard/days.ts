// The range of business days a dashboard grid shows: ?from=&to=, by default the last 14 days up to today, at most
// 92 days, newest first.
import { addDays, isDate } from '../../lib/time.ts'

export const DEFAULT_DAYS = 14
export const MAX_DAYS = 92

/** The days asked for by `from`/`to` (query values, possibly missing or malformed), bounded as above. */
export function dayRange(qFrom: string | undefined, qTo: string | undefined, today: string): { from: string; to: string } {
  let to = qTo && isDate(qTo) ? qTo : today
  let from = qFrom && isDate(qFrom) ? qFrom : addDays(to, -(DEFAULT_DAYS - 1))
  if (from > to) [from, to] = [to, from]
  if (from < addDays(to, -(MAX_DAYS - 1))) from = addDays(to, -(MAX_DAYS - 1))
  return { from, to }
}

export function daysDesc(from: string, to: string): string[] {
  const out: string[] = []
  for (let d = to; d >= from; d = addDays(d, -1)) out.push(d)
  return out
}
