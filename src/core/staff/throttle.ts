// Failure throttles (wrong PINs per register or caller, failed sign-ins per client address): one row per key in its
// table, counted atomically, so parallel guesses are all counted. `maxFailures` failures, each within `windowMs` of the
// one before, lock the key for `lockMs`. The count starts again only after `windowMs` without a failure, or once a lock
// has run out, so no rhythm of guesses gets more than `maxFailures - 1` of them in a row unlocked. A success does not
// clear it: otherwise someone who knows one secret (their own) could keep guessing others'.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'

export interface FailureWindow {
  maxFailures: number
  windowMs: number
  lockMs: number
}

/** The throttle row of `key` in `table` (its key column `keyColumn`, with `extra` columns set when it is created). */
export interface ThrottleRow {
  table: 'pin_throttle' | 'sign_in_throttle'
  keyColumn: string
  key: string
  extra?: Record<string, string>
}

/** Counts one failure of a key at `now`; returns the failures in a row and the lock, if the key is locked now. */
export async function countFailure(tx: Tx, row: ThrottleRow, now: Date, p: FailureWindow): Promise<{ failures: number; lockedUntil: Date | null }> {
  const at = sql`${now.toISOString()}::timestamptz`
  const windowStart = sql`${new Date(now.getTime() - p.windowMs).toISOString()}::timestamptz`
  const lockEnd = sql`${new Date(now.getTime() + p.lockMs).toISOString()}::timestamptz`
  const failures = sql`case when t.updated_at < ${windowStart} or t.locked_until <= ${at} then 1 else t.failures + 1 end`
  const extra = Object.entries(row.extra ?? {})
  const columns = sql.join([row.keyColumn, ...extra.map(([c]) => c)].map((c) => sql.identifier(c)), sql`, `)
  const values = sql.join([row.key, ...extra.map(([, v]) => v)].map((v) => sql`${v}`), sql`, `)
  const r = await tx.execute<{ failures: number; locked_until: Date | string | null }>(sql`
    insert into ${sql.identifier(row.table)} as t (${columns}, failures, locked_until, updated_at)
    values (${values}, 1, case when 1 >= ${p.maxFailures} then ${lockEnd} end, ${at})
    on conflict (${sql.identifier(row.keyColumn)}) do update set
      failures = ${failures},
      locked_until = case when (${failures}) >= ${p.maxFailures} then ${lockEnd} end,
      updated_at = ${at}
    returning failures, locked_until`)
  const out = r.rows[0]!
  return { failures: out.failures, lockedUntil: out.locked_until === null ? null : new Date(out.locked_until) }
}
