// A member's points and stored-value ledgers, newest entry first, a page at a time (the cursor: the id of the previous
// page's last entry), with the points lots still holding points.
import { and, asc, desc, eq, gt, lt } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { keysetPage } from '../../db/page.ts'
import { pointsLedger, pointsLots, storedValueLedger } from './schema.ts'

type MemberLedger = typeof pointsLedger | typeof storedValueLedger

/** One page of a member's entries in `ledger`, newest first. */
export async function ledgerPage<T extends MemberLedger>(tx: Tx, ledger: T, member: { merchantId: string; id: string }, page: { cursor?: string; limit: number }) {
  const table = ledger as MemberLedger
  const rows = (await tx
    .select()
    .from(table)
    .where(and(eq(table.merchantId, member.merchantId), eq(table.memberId, member.id), page.cursor ? lt(table.id, Number(page.cursor)) : undefined))
    .orderBy(desc(table.id))
    .limit(page.limit + 1)) as T['$inferSelect'][]
  return keysetPage(rows, page.limit, (l) => l.id)
}

/** The member's points lots still holding points, first-expiring first. */
export const openLots = (tx: Tx, memberId: string) =>
  tx
    .select({ remaining: pointsLots.remaining, expiresAt: pointsLots.expiresAt })
    .from(pointsLots)
    .where(and(eq(pointsLots.memberId, memberId), gt(pointsLots.remaining, 0)))
    .orderBy(asc(pointsLots.expiresAt), asc(pointsLots.ledgerId))
