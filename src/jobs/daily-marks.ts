// How far a merchant's daily scheduled work has got (daily_marks): the last local day a task has done, so that a hub
// that was down catches up from the day after it. A mark only moves forward, also when two workers write at once.
import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { dailyMarks } from '../db/infra-schema.ts'

/** The last day `task` has done for the merchant; null before its first. `lock`: held until the transaction ends. */
export async function markOf(tx: Tx, merchantId: string, task: string, opts: { lock?: boolean } = {}): Promise<string | null> {
  const q = tx.select({ through: dailyMarks.through }).from(dailyMarks).where(and(eq(dailyMarks.merchantId, merchantId), eq(dailyMarks.task, task)))
  const [row] = opts.lock ? await q.for('update') : await q
  return row?.through ?? null
}

/** Moves `task`'s mark to `through`, never back. */
export async function advanceMark(tx: Tx, merchantId: string, task: string, through: string, at: Date): Promise<void> {
  await tx
    .insert(dailyMarks)
    .values({ merchantId, task, through, updatedAt: at })
    .onConflictDoUpdate({ target: [dailyMarks.merchantId, dailyMarks.task], set: { through: sql`greatest(${dailyMarks.through}, excluded.through)`, updatedAt: at } })
}

/** The later of two days (YYYY-MM-DD). */
export const laterDay = (a: string, b: string) => (a > b ? a : b)
