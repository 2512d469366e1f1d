// How a channel is fed: which of our stock locations make up each remote location's quantity, and the allocation
// rules (a connection default and per-variant overrides). Any change marks every level of the channel for a push.
import { and, eq, inArray, isNull, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { variants } from '../catalog/schema.ts'
import { stockLocations } from '../stores/schema.ts'
import { DEFAULT_RULE, type ChannelRule } from './allocation.ts'
import { ensureLevels, type ChannelRef } from './listings.ts'
import { channelLevels, channelListings, channelLocations, channelRules } from './schema.ts'

export interface LocationMapInput {
  remoteLocationId: string
  name?: string
  /** Our stock locations whose available stock is summed for this remote location. */
  locationIds: string[]
  /** Where pickup orders of this remote location are held and handed over (default: the first of locationIds). */
  pickupLocationId?: string | null
}

export type LocationMap = typeof channelLocations.$inferSelect

/** Replaces the channel's location map. Levels of remote locations no longer mapped are dropped. */
export async function setLocationMap(tx: Tx, ref: ChannelRef, input: LocationMapInput[], at: Date): Promise<LocationMap[]> {
  const ids = [...new Set(input.flatMap((m) => [...m.locationIds, ...(m.pickupLocationId ? [m.pickupLocationId] : [])]))]
  if (input.some((m) => m.locationIds.length === 0)) throw invalid('empty_location_map', 'each remote location needs at least one of our stock locations')
  if (new Set(input.map((m) => m.remoteLocationId)).size !== input.length) throw invalid('duplicate_remote_location', 'a remote location is mapped twice')
  if (ids.length) {
    const found = await tx.select({ id: stockLocations.id }).from(stockLocations).where(and(eq(stockLocations.merchantId, ref.merchantId), inArray(stockLocations.id, ids)))
    const known = new Set(found.map((f) => f.id))
    const missing = ids.find((id) => !known.has(id))
    if (missing) throw notFound('location', missing)
  }
  for (const m of input) {
    if (m.pickupLocationId && !m.locationIds.includes(m.pickupLocationId)) throw invalid('pickup_location_not_fed', 'the pickup location must be one of the locations that feed the remote location')
  }
  await tx.delete(channelLocations).where(eq(channelLocations.connectionId, ref.connectionId))
  const kept = input.map((m) => m.remoteLocationId)
  await tx
    .delete(channelLevels)
    .where(and(eq(channelLevels.connectionId, ref.connectionId), kept.length ? sql`${channelLevels.remoteLocationId} <> all(${sql.param(kept)}::text[])` : undefined))
  if (input.length) {
    await tx.insert(channelLocations).values(
      input.map((m) => ({
        merchantId: ref.merchantId,
        connectionId: ref.connectionId,
        remoteLocationId: m.remoteLocationId,
        name: m.name ?? '',
        locationIds: m.locationIds,
        pickupLocationId: m.pickupLocationId ?? m.locationIds[0]!,
        updatedAt: at,
      })),
    )
  }
  const bound = await tx.select({ id: channelListings.id }).from(channelListings).where(and(eq(channelListings.connectionId, ref.connectionId), eq(channelListings.state, 'bound')))
  await ensureLevels(tx, ref, bound.map((b) => b.id))
  await markChannelDirty(tx, ref.connectionId)
  return listLocationMap(tx, ref)
}

export const listLocationMap = (tx: Tx, ref: ChannelRef) =>
  tx
    .select()
    .from(channelLocations)
    .where(and(eq(channelLocations.merchantId, ref.merchantId), eq(channelLocations.connectionId, ref.connectionId)))
    .orderBy(channelLocations.remoteLocationId)

export type RuleRow = typeof channelRules.$inferSelect

/** Sets the connection's default rule (variantId null) or a variant's override; `null` removes an override. */
export async function setRule(tx: Tx, ref: ChannelRef, variantId: string | null, rule: ChannelRule | null, at: Date): Promise<RuleRow | null> {
  for (const [k, v] of Object.entries(rule ?? {})) {
    if (v !== null && (!Number.isSafeInteger(v) || (v as number) < 0)) throw invalid('invalid_rule', `${k} must be a whole number of at least 0`)
  }
  if (rule && rule.percent > 100) throw invalid('invalid_rule', 'percent must be between 0 and 100')
  if (variantId !== null) {
    const [v] = await tx.select({ id: variants.id }).from(variants).where(and(eq(variants.id, variantId), eq(variants.merchantId, ref.merchantId)))
    if (!v) throw notFound('variant', variantId)
  }
  const which = and(eq(channelRules.connectionId, ref.connectionId), variantId === null ? isNull(channelRules.variantId) : eq(channelRules.variantId, variantId))
  await tx.delete(channelRules).where(which)
  let row: RuleRow | null = null
  if (rule) {
    const [inserted] = await tx
      .insert(channelRules)
      .values({ id: newId(), merchantId: ref.merchantId, connectionId: ref.connectionId, variantId, ...rule, updatedAt: at })
      .returning()
    row = inserted!
  }
  await markChannelDirty(tx, ref.connectionId, variantId ?? undefined)
  return row
}

export async function listRules(tx: Tx, ref: ChannelRef): Promise<{ default: ChannelRule; overrides: (ChannelRule & { variantId: string })[] }> {
  const rows = await tx
    .select()
    .from(channelRules)
    .where(and(eq(channelRules.merchantId, ref.merchantId), eq(channelRules.connectionId, ref.connectionId)))
  const pick = (r: RuleRow): ChannelRule => ({ percent: r.percent, buffer: r.buffer, maximum: r.maximum, zeroAtOrBelow: r.zeroAtOrBelow, fixed: r.fixed })
  const def = rows.find((r) => r.variantId === null)
  return {
    default: def ? pick(def) : DEFAULT_RULE,
    overrides: rows.filter((r) => r.variantId !== null).map((r) => ({ variantId: r.variantId!, ...pick(r) })),
  }
}

/** Marks levels of the channel (of one variant, or all) for the next push; the caller queues the push job. */
export async function markChannelDirty(tx: Tx, connectionId: string, variantId?: string): Promise<number> {
  const res = await tx
    .update(channelLevels)
    .set({ dirtySince: sql`coalesce(${channelLevels.dirtySince}, clock_timestamp())`, changeSeq: sql`${channelLevels.changeSeq} + 1` })
    .where(and(eq(channelLevels.connectionId, connectionId), variantId ? eq(channelLevels.variantId, variantId) : undefined))
    .returning({ id: channelLevels.id })
  return res.length
}
