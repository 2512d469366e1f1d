// Reading the stock sync: listings by state, the status of every SKU per channel, counts for the dashboard, and
// the drift the audits found.
import { and, desc, eq, gt, isNull, lt, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { keysetPage } from '../../db/page.ts'
import { variants } from '../catalog/schema.ts'
import type { ChannelRef } from './listings.ts'
import { channelDrift, channelLevels, channelListings, type ListingState, type LevelStatus } from './schema.ts'

export async function listChannelListings(tx: Tx, ref: ChannelRef, f: { state?: ListingState; after?: string; limit: number }) {
  const rows = await tx
    .select({ listing: channelListings, variantSku: variants.sku })
    .from(channelListings)
    .leftJoin(variants, eq(variants.id, channelListings.variantId))
    .where(
      and(
        eq(channelListings.merchantId, ref.merchantId),
        eq(channelListings.connectionId, ref.connectionId),
        f.state ? eq(channelListings.state, f.state) : undefined,
        f.after ? gt(channelListings.id, f.after) : undefined,
      ),
    )
    .orderBy(channelListings.id)
    .limit(f.limit + 1)
  return keysetPage(
    rows.map((r) => ({ ...r.listing, variantSku: r.variantSku })),
    f.limit,
    (r) => r.id,
  )
}

/** The sync state of each SKU at each remote location; `unmapped` lists our variants no listing of the channel is bound to. */
export type SkuStatus = LevelStatus | 'unmapped'

export interface SkuSyncRow {
  levelId: string | null
  variantId: string
  sku: string
  listingId: string | null
  externalId: string | null
  remoteLocationId: string | null
  status: SkuStatus
  target: number | null
  lastPushed: number | null
  lastPushedAt: Date | null
  lastRemote: number | null
  lastRemoteAt: Date | null
  lastError: string | null
  pendingSince: Date | null
}

export async function listSkuStatus(tx: Tx, ref: ChannelRef, f: { status?: SkuStatus; sku?: string; after?: string; limit: number }): Promise<{ items: SkuSyncRow[]; nextCursor: string | null }> {
  if (f.status === 'unmapped') {
    // Our variants with no bound listing on this channel, by SKU.
    const rows = await tx.execute<{ id: string; sku: string }>(sql`
      select v.id, v.sku from variants v
       where v.merchant_id = ${ref.merchantId}
         and not exists (select 1 from channel_listings li where li.connection_id = ${ref.connectionId} and li.variant_id = v.id)
         and (${f.sku ?? null}::text is null or v.sku = ${f.sku ?? null})
         and (${f.after ?? null}::text is null or v.sku > ${f.after ?? null})
       order by v.sku limit ${f.limit + 1}`)
    return keysetPage(
      rows.rows.map((r): SkuSyncRow => ({ levelId: null, variantId: r.id, sku: r.sku, listingId: null, externalId: null, remoteLocationId: null, status: 'unmapped', target: null, lastPushed: null, lastPushedAt: null, lastRemote: null, lastRemoteAt: null, lastError: null, pendingSince: null })),
      f.limit,
      (r) => r.sku,
    )
  }
  const rows = await tx
    .select({ l: channelLevels, sku: variants.sku, externalId: channelListings.externalId })
    .from(channelLevels)
    .innerJoin(variants, eq(variants.id, channelLevels.variantId))
    .innerJoin(channelListings, eq(channelListings.id, channelLevels.listingId))
    .where(
      and(
        eq(channelLevels.merchantId, ref.merchantId),
        eq(channelLevels.connectionId, ref.connectionId),
        // A level marked changed and not pushed yet reads pending (as the rows below and the summary show it), not ok.
        f.status === 'pending'
          ? sql`(${channelLevels.status} = 'pending' or (${channelLevels.dirtySince} is not null and ${channelLevels.status} = 'ok'))`
          : f.status === 'ok'
            ? and(eq(channelLevels.status, 'ok'), isNull(channelLevels.dirtySince))
            : f.status
              ? eq(channelLevels.status, f.status)
              : undefined,
        f.sku ? eq(variants.sku, f.sku) : undefined,
        f.after ? sql`(${variants.sku}, ${channelLevels.id}) > (${f.after.split('\n')[0]!}, ${f.after.split('\n')[1] ?? '00000000-0000-0000-0000-000000000000'}::uuid)` : undefined,
      ),
    )
    .orderBy(variants.sku, channelLevels.id)
    .limit(f.limit + 1)
  return keysetPage(
    rows.map(
      ({ l, sku, externalId }): SkuSyncRow => ({
        levelId: l.id,
        variantId: l.variantId,
        sku,
        listingId: l.listingId,
        externalId,
        remoteLocationId: l.remoteLocationId,
        // A level waiting for its push reads 'pending' until it is written.
        status: l.dirtySince && l.status === 'ok' ? 'pending' : l.status,
        target: l.target,
        lastPushed: l.lastPushed,
        lastPushedAt: l.lastPushedAt,
        lastRemote: l.lastRemote,
        lastRemoteAt: l.lastRemoteAt,
        lastError: l.lastError,
        pendingSince: l.dirtySince,
      }),
    ),
    f.limit,
    (r) => `${r.sku}\n${r.levelId}`,
  )
}

export interface SyncSummary {
  levels: Record<SkuStatus, number>
  listings: Record<ListingState, number>
  /** Age in seconds of the oldest change not pushed yet (0 when none). */
  oldestPendingSeconds: number
  lastPushedAt: Date | null
  openDrift: number
}

export async function syncSummary(tx: Tx, ref: ChannelRef, now: Date): Promise<SyncSummary> {
  const { rows } = await tx.execute<{ status: string; n: number; oldest: string | null; last: string | null }>(sql`
    select case when dirty_since is not null and status = 'ok' then 'pending' else status end as status, count(*)::int as n,
           min(dirty_since)::text as oldest, max(last_pushed_at)::text as last
      from channel_levels where connection_id = ${ref.connectionId} and merchant_id = ${ref.merchantId} group by 1`)
  const listingRows = await tx.execute<{ state: string; n: number }>(sql`
    select state, count(*)::int as n from channel_listings where connection_id = ${ref.connectionId} and merchant_id = ${ref.merchantId} group by 1`)
  const unmapped = await tx.execute<{ n: number }>(sql`
    select count(*)::int as n from variants v where v.merchant_id = ${ref.merchantId}
       and not exists (select 1 from channel_listings li where li.connection_id = ${ref.connectionId} and li.variant_id = v.id)`)
  const drift = await tx.execute<{ n: number }>(sql`select count(*)::int as n from channel_drift where connection_id = ${ref.connectionId} and not repaired`)
  const levels: Record<SkuStatus, number> = { ok: 0, pending: 0, error: 0, drift: 0, unmapped: unmapped.rows[0]!.n }
  let oldest: Date | null = null
  let last: Date | null = null
  for (const r of rows) {
    levels[r.status as LevelStatus] = (levels[r.status as LevelStatus] ?? 0) + r.n
    if (r.oldest && (!oldest || new Date(r.oldest) < oldest)) oldest = new Date(r.oldest)
    if (r.last && (!last || new Date(r.last) > last)) last = new Date(r.last)
  }
  const listings: Record<ListingState, number> = { bound: 0, unmapped: 0, ambiguous: 0, untracked: 0, gone: 0 }
  for (const r of listingRows.rows) listings[r.state as ListingState] = r.n
  return { levels, listings, oldestPendingSeconds: oldest ? Math.max(0, Math.round((now.getTime() - oldest.getTime()) / 1000)) : 0, lastPushedAt: last, openDrift: drift.rows[0]!.n }
}

export async function listDrift(tx: Tx, ref: ChannelRef, f: { before?: number; limit: number }) {
  const rows = await tx
    .select()
    .from(channelDrift)
    .where(and(eq(channelDrift.merchantId, ref.merchantId), eq(channelDrift.connectionId, ref.connectionId), f.before ? lt(channelDrift.id, f.before) : undefined))
    .orderBy(desc(channelDrift.id))
    .limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}
