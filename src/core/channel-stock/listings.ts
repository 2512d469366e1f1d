// The marketplace's listings as we know them, and which of our variants each stands for: bound automatically by
// SKU, else by barcode, when exactly one variant matches and no other listing of the channel has it; otherwise left
// 'unmapped' or 'ambiguous' for a person to bind by hand. A hand binding is never undone by a later import.
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { barcodes, variants } from '../catalog/schema.ts'
import { channelLevels, channelListings, channelLocations, type ListingState } from './schema.ts'

export interface ChannelRef {
  merchantId: string
  connectionId: string
}

export interface ListingInput {
  externalId: string
  externalIds: Record<string, string>
  sku: string | null
  barcode: string | null
  title: string
  tracked: boolean
  /** Sellable quantity per remote location, as read with the listing. */
  levels?: { locationId: string; available: number }[]
}

export type Listing = typeof channelListings.$inferSelect

export interface ImportSummary {
  listings: number
  bound: number
  unmapped: number
  ambiguous: number
  untracked: number
  /** Listing ids of every listing in the batch, in input order. */
  ids: string[]
}

const norm = (s: string | null | undefined) => {
  const t = s?.trim()
  return t ? t : null
}

/**
 * Stores a page of listings read from the marketplace and binds what can be bound. Returns the listing ids in
 * input order, so the caller can record the levels read with them.
 */
export async function importListings(tx: Tx, ref: ChannelRef, input: ListingInput[], at: Date): Promise<ImportSummary> {
  const summary: ImportSummary = { listings: input.length, bound: 0, unmapped: 0, ambiguous: 0, untracked: 0, ids: [] }
  if (input.length === 0) return summary
  const skus = [...new Set(input.map((l) => norm(l.sku)).filter((s): s is string => s !== null))]
  const codes = [...new Set(input.map((l) => norm(l.barcode)).filter((s): s is string => s !== null))]
  const bySku = new Map<string, string>()
  const byCode = new Map<string, string>()
  if (skus.length) {
    const rows = await tx.select({ id: variants.id, sku: variants.sku }).from(variants).where(and(eq(variants.merchantId, ref.merchantId), inArray(variants.sku, skus)))
    for (const r of rows) bySku.set(r.sku, r.id)
  }
  if (codes.length) {
    const rows = await tx.select({ id: barcodes.variantId, code: barcodes.code }).from(barcodes).where(and(eq(barcodes.merchantId, ref.merchantId), inArray(barcodes.code, codes)))
    for (const r of rows) byCode.set(r.code, r.id)
  }
  const existing = new Map(
    (
      await tx
        .select()
        .from(channelListings)
        .where(and(eq(channelListings.connectionId, ref.connectionId), inArray(channelListings.externalId, input.map((l) => l.externalId))))
        .for('update')
    ).map((r) => [r.externalId, r]),
  )
  // Variants already bound to another listing of this channel: a second listing for one variant is ambiguous.
  const taken = new Map(
    (
      await tx
        .select({ variantId: channelListings.variantId, externalId: channelListings.externalId })
        .from(channelListings)
        .where(and(eq(channelListings.connectionId, ref.connectionId), sql`${channelListings.variantId} is not null`))
    ).map((r) => [r.variantId!, r.externalId]),
  )

  const rows: (typeof channelListings.$inferInsert)[] = []
  for (const l of input) {
    const prev = existing.get(l.externalId)
    const sku = norm(l.sku)
    const code = norm(l.barcode)
    let variantId: string | null = null
    let matchedBy: string | null = null
    let state: ListingState
    let candidates: string[] = []
    if (prev?.matchedBy === 'manual') {
      // Bound or unbound by hand: a person decided, an import does not.
      variantId = prev.variantId
      matchedBy = 'manual'
      state = variantId ? 'bound' : 'unmapped'
    } else {
      const skuMatch = sku ? bySku.get(sku) : undefined
      const codeMatch = code ? byCode.get(code) : undefined
      candidates = [...new Set([skuMatch, codeMatch].filter((v): v is string => v !== undefined))]
      const only = candidates.length === 1 ? candidates[0]! : null
      const holder = only ? taken.get(only) : undefined
      if (only && (holder === undefined || holder === l.externalId)) {
        variantId = only
        matchedBy = skuMatch ? 'sku' : 'barcode'
        state = 'bound'
        candidates = []
        taken.set(only, l.externalId)
      } else if (only) {
        state = 'ambiguous'
        candidates = [only]
      } else state = candidates.length > 1 ? 'ambiguous' : 'unmapped'
    }
    if (state === 'bound' && !l.tracked) state = 'untracked'
    summary[state === 'bound' ? 'bound' : state === 'untracked' ? 'untracked' : state === 'ambiguous' ? 'ambiguous' : 'unmapped']++
    rows.push({
      id: prev?.id ?? newId(),
      merchantId: ref.merchantId,
      connectionId: ref.connectionId,
      externalId: l.externalId,
      externalIds: l.externalIds,
      sku,
      barcode: code,
      title: l.title,
      tracked: l.tracked,
      variantId,
      matchedBy,
      state,
      candidates,
      seenAt: at,
      updatedAt: at,
    })
  }
  // A listing that lost its variant frees it first (unique per channel), then the batch is written.
  const freed = rows.filter((r) => existing.get(r.externalId)?.variantId && existing.get(r.externalId)!.variantId !== r.variantId).map((r) => r.id!)
  if (freed.length) {
    await tx.delete(channelLevels).where(inArray(channelLevels.listingId, freed))
    await tx.update(channelListings).set({ variantId: null }).where(inArray(channelListings.id, freed))
  }
  await tx
    .insert(channelListings)
    .values(rows)
    .onConflictDoUpdate({
      target: [channelListings.connectionId, channelListings.externalId],
      set: {
        externalIds: sql`excluded.external_ids`,
        sku: sql`excluded.sku`,
        barcode: sql`excluded.barcode`,
        title: sql`excluded.title`,
        tracked: sql`excluded.tracked`,
        variantId: sql`excluded.variant_id`,
        matchedBy: sql`excluded.matched_by`,
        state: sql`excluded.state`,
        candidates: sql`excluded.candidates`,
        seenAt: sql`excluded.seen_at`,
        updatedAt: sql`excluded.updated_at`,
      },
    })
  summary.ids = rows.map((r) => r.id!)
  await ensureLevels(tx, ref, summary.ids, input)
  return summary
}

/**
 * After a complete pass marked listings gone: a listing left ambiguous only because a gone listing still held its one
 * matching variant (a product deleted and created again with the same SKU, met in the same pass) is bound now. Two
 * listings still matching one variant stay ambiguous, and a listing a person bound or unbound is left alone.
 */
export async function bindFreedListings(tx: Tx, ref: ChannelRef, at: Date): Promise<string[]> {
  const { rows } = await tx.execute<{ id: string }>(sql`
    with freed as (
      select l.id, (l.candidates->>0)::uuid as variant_id from channel_listings l
       where l.connection_id = ${ref.connectionId} and l.state = 'ambiguous' and jsonb_array_length(l.candidates) = 1
         and coalesce(l.matched_by, '') <> 'manual'
         and not exists (select 1 from channel_listings o where o.connection_id = l.connection_id and o.variant_id = (l.candidates->>0)::uuid)
         and not exists (select 1 from channel_listings o where o.connection_id = l.connection_id and o.id <> l.id and o.state = 'ambiguous' and o.candidates ? (l.candidates->>0))
    )
    update channel_listings l
       set variant_id = f.variant_id, matched_by = case when l.sku is not null and l.sku = v.sku then 'sku' else 'barcode' end,
           state = case when l.tracked then 'bound' else 'untracked' end, candidates = '[]'::jsonb, updated_at = ${at}
      from freed f join variants v on v.id = f.variant_id
     where l.id = f.id
    returning l.id`)
  const ids = rows.map((r) => r.id)
  await ensureLevels(tx, ref, ids)
  return ids
}

/**
 * Creates the sync state of every bound, tracked listing at each mapped remote location it is stocked at (all
 * mapped locations when the marketplace did not say), and drops the state of listings no longer bound.
 */
export async function ensureLevels(tx: Tx, ref: ChannelRef, listingIds: string[], input?: ListingInput[]): Promise<void> {
  if (listingIds.length === 0) return
  const stockedAt = new Map<string, Set<string>>()
  input?.forEach((l, i) => {
    if (l.levels) stockedAt.set(listingIds[i]!, new Set(l.levels.map((x) => x.locationId)))
  })
  const listings = await tx
    .select({ id: channelListings.id, variantId: channelListings.variantId, state: channelListings.state })
    .from(channelListings)
    .where(inArray(channelListings.id, listingIds))
  const remotes = await tx.select({ id: channelLocations.remoteLocationId }).from(channelLocations).where(eq(channelLocations.connectionId, ref.connectionId))
  const unbound = listings.filter((l) => l.state !== 'bound').map((l) => l.id)
  if (unbound.length) await tx.delete(channelLevels).where(inArray(channelLevels.listingId, unbound))
  const rows: (typeof channelLevels.$inferInsert)[] = []
  for (const l of listings) {
    if (l.state !== 'bound' || !l.variantId) continue
    const at = stockedAt.get(l.id)
    for (const r of remotes) {
      if (at && !at.has(r.id)) continue
      rows.push({ id: newId(), merchantId: ref.merchantId, connectionId: ref.connectionId, listingId: l.id, variantId: l.variantId, remoteLocationId: r.id, status: 'pending', dirtySince: sql`clock_timestamp()` as never, changeSeq: 1 })
    }
  }
  if (rows.length) await tx.insert(channelLevels).values(rows).onConflictDoNothing()
}

/** Binds a listing to a variant by hand (also one that matched ambiguously), or unbinds it (null); imports keep the choice. */
export async function bindListing(tx: Tx, ref: ChannelRef, listingId: string, variantId: string | null, at: Date): Promise<Listing> {
  const [listing] = await tx
    .select()
    .from(channelListings)
    .where(and(eq(channelListings.id, listingId), eq(channelListings.merchantId, ref.merchantId), eq(channelListings.connectionId, ref.connectionId)))
    .for('update')
  if (!listing) throw notFound('listing', listingId)
  if (variantId !== null) {
    const [v] = await tx.select({ id: variants.id }).from(variants).where(and(eq(variants.id, variantId), eq(variants.merchantId, ref.merchantId)))
    if (!v) throw notFound('variant', variantId)
    const [other] = await tx
      .select({ id: channelListings.id, externalId: channelListings.externalId })
      .from(channelListings)
      .where(and(eq(channelListings.connectionId, ref.connectionId), eq(channelListings.variantId, variantId), sql`${channelListings.id} <> ${listingId}`))
    if (other) throw conflict('variant_already_bound', `the variant is already bound to listing ${other.externalId} of this channel; unbind it first`, { listingId: other.id })
  }
  await tx.delete(channelLevels).where(eq(channelLevels.listingId, listingId))
  const state: ListingState = variantId === null ? 'unmapped' : listing.tracked ? 'bound' : 'untracked'
  const [row] = await tx
    .update(channelListings)
    .set({ variantId, matchedBy: 'manual', state, candidates: [], updatedAt: at })
    .where(eq(channelListings.id, listingId))
    .returning()
  await ensureLevels(tx, ref, [listingId])
  return row!
}
