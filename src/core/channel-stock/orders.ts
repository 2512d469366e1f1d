// Online orders hold our stock: an open order reserves each line at a location that feeds the remote location it
// ships from (the line's own when the marketplace split the order over several), or in parts across them when none
// has it all (never more than is available, also under concurrency; a line that cannot be
// covered flags the order, as does a hold whose units an offline sale or a stock count took later), a cancellation
// gives the stock back, a fulfilment turns the hold into the stock movement of the goods leaving, and a pickup order
// is handed over at its store. Applying the same order state twice changes nothing: every line is keyed by
// (connection, remote order, line), and an older state than the one applied is ignored.
import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { keysetPage } from '../../db/page.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { sum } from '../../lib/money.ts'
import { variants } from '../catalog/schema.ts'
import { recordEvents } from '../events/service.ts'
import type { Actor } from '../staff/actor.ts'
import { applyMovements, consumeReservation, consumeReservationPart, releaseReservation, reserve, shrinkReservation } from '../stock/ledger.ts'
import { stockReservations } from '../stock/schema.ts'
import { forgetBelievedRemote, takeOrderOffBelievedRemote } from './levels.ts'
import type { ChannelRef } from './listings.ts'
import { channelListings, channelLocations, channelOrderLines, channelOrders, type ChannelOrderLineState, type ChannelOrderStatus } from './schema.ts'

export const RESERVATION_SOURCE = 'channel_order'

export interface ChannelOrderInput {
  id: string
  name: string
  status: 'open' | 'fulfilled' | 'cancelled'
  updatedAt: string
  /**
   * When the marketplace took the units off its own stock (the order's creation there, or its payment on a shop
   * that takes stock at payment); null while it has not, or when not known.
   */
  placedAt?: string | null
  locationId: string | null
  pickupLocationId: string | null
  lines: ChannelOrderLineInput[]
}

/** An order's line as a marketplace connector reads it (the connector framework's RemoteOrderLine). */
export interface ChannelOrderLineInput {
  /** The vendor's line id (Shopify line item id, Woo line item id, Taobao sub-order `oid`). */
  id: string
  sku: string | null
  /** The listing's externalId when the order says it (Shopify line → variant → inventory item is not given; Woo variation/product id is). */
  externalId: string | null
  /** Units the buyer still takes: ordered minus removed, cancelled or refunded with restock. */
  quantity: number
  /** Units of it already shipped while the order is still open (fulfilled in part); omitted when not known. */
  shipped?: number
  /**
   * The remote location that ships this line, when the order says so line by line (Shopify fulfillment orders, one
   * per location an order is split over); omitted or null: the order's `locationId` stands for it.
   */
  locationId?: string | null
  /**
   * A line shipped from several remote locations (Shopify split it over fulfillment orders): its units per location,
   * summing to `quantity`, each with the units of it shipped when known. `locationId` is then not set.
   */
  split?: { locationId: string; quantity: number; shipped?: number }[]
}

export type ChannelOrder = typeof channelOrders.$inferSelect
export type ChannelOrderLine = typeof channelOrderLines.$inferSelect
type Hold = typeof stockReservations.$inferSelect

export interface ApplyOrderResult {
  order: ChannelOrder
  /** False when this state (or a newer one) was applied before. */
  applied: boolean
}

const sourceId = (ref: ChannelRef, orderId: string, lineId: string) => `${ref.connectionId}:${orderId}:${lineId}`

interface Placement {
  /** Our locations to reserve from, in order of preference. */
  locationIds: string[]
  remoteLocationId: string | null
  pickup: boolean
}

type LocationMap = typeof channelLocations.$inferSelect

const locationMaps = (tx: Tx, ref: ChannelRef): Promise<LocationMap[]> => tx.select().from(channelLocations).where(eq(channelLocations.connectionId, ref.connectionId))

/** Where the order's goods come from, as the order says. */
function placement(maps: LocationMap[], order: ChannelOrderInput): Placement | null {
  if (order.pickupLocationId) {
    const m = maps.find((x) => x.remoteLocationId === order.pickupLocationId) ?? (maps.length === 1 ? maps[0] : undefined)
    return m ? { locationIds: [m.pickupLocationId ?? m.locationIds[0]!], remoteLocationId: m.remoteLocationId, pickup: true } : null
  }
  const m = order.locationId ? maps.find((x) => x.remoteLocationId === order.locationId) : maps.length === 1 ? maps[0] : undefined
  if (m) return { locationIds: m.locationIds, remoteLocationId: m.remoteLocationId, pickup: false }
  // A multi-location channel that did not say where the order ships from: any location that feeds the channel.
  if (!order.locationId && maps.length > 1) return { locationIds: [...new Set(maps.flatMap((x) => x.locationIds))], remoteLocationId: null, pickup: false }
  return null
}

/** Our locations feeding one remote location (a line that ships from it). */
function placementAt(maps: LocationMap[], remoteLocationId: string): Placement | null {
  const m = maps.find((x) => x.remoteLocationId === remoteLocationId)
  return m ? { locationIds: m.locationIds, remoteLocationId: m.remoteLocationId, pickup: false } : null
}

/** Units of a line that come from one place: all of it, or its part shipped from one remote location. */
interface LinePart {
  place: Placement
  quantity: number
  shipped: number
}

/**
 * `total` units laid over parts of these sizes, in order, each filled up to its size (what is short comes off the
 * last); any beyond them all go to the first.
 */
function spread(sizes: number[], total: number): number[] {
  let left = total
  const out = sizes.map((size) => {
    const n = Math.max(0, Math.min(size, left))
    left -= n
    return n
  })
  if (left > 0 && out.length) out[0]! += left
  return out
}

/**
 * Our variant of each order line, by the marketplace's listing first: the line's item id, or else the listing whose
 * SKU the line carries (a Shopify webhook names no inventory item), as that listing is bound, by hand or by SKU. A
 * line of a listing a person left or made unbound stays unmapped: only a line no listing is known for is matched by
 * our own SKU.
 */
async function resolveVariants(tx: Tx, ref: ChannelRef, lines: ChannelOrderInput['lines']): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const known = new Set<string>()
  const ext = lines.map((l) => l.externalId).filter((x): x is string => !!x)
  const skus = [...new Set(lines.map((l) => l.sku?.trim()).filter((x): x is string => !!x))]
  const listings =
    ext.length || skus.length
      ? await tx
          .select({ externalId: channelListings.externalId, sku: channelListings.sku, variantId: channelListings.variantId, state: channelListings.state })
          .from(channelListings)
          .where(and(eq(channelListings.connectionId, ref.connectionId), or(ext.length ? inArray(channelListings.externalId, ext) : undefined, skus.length ? inArray(channelListings.sku, skus) : undefined)))
      : []
  for (const l of lines) {
    const byId = l.externalId ? listings.find((x) => x.externalId === l.externalId) : undefined
    // By SKU, only listings the marketplace still has: a product deleted and created again keeps its SKU.
    const bySku = byId ? [] : l.sku ? listings.filter((x) => x.sku === l.sku!.trim() && x.state !== 'gone') : []
    const found = byId ? [byId] : bySku
    if (found.length === 0) continue
    known.add(l.id)
    const bound = [...new Set(found.map((x) => x.variantId))]
    if (bound.length === 1 && bound[0]) out.set(l.id, bound[0])
  }
  const rest = lines.filter((l) => !known.has(l.id) && l.sku)
  if (rest.length) {
    const rows = await tx
      .select({ id: variants.id, sku: variants.sku })
      .from(variants)
      .where(and(eq(variants.merchantId, ref.merchantId), inArray(variants.sku, rest.map((l) => l.sku!.trim()))))
    const bySku = new Map(rows.map((r) => [r.sku, r.id]))
    for (const l of rest) if (bySku.has(l.sku!.trim())) out.set(l.id, bySku.get(l.sku!.trim())!)
  }
  return out
}

/** Our locations with what they have available of the variant, most first (read without a lock: reserve checks). */
async function byAvailable(tx: Tx, variantId: string, locationIds: string[]): Promise<{ locationId: string; available: number }[]> {
  const { rows } = await tx.execute<{ location_id: string; available: string }>(sql`
    select k.id as location_id, greatest(coalesce(s.on_hand - s.reserved, 0), 0)::text as available
      from unnest(${sql.param(locationIds)}::uuid[]) with ordinality as k(id, n)
      left join stock_levels s on s.location_id = k.id and s.variant_id = ${variantId}
     order by coalesce(s.on_hand - s.reserved, 0) desc, k.n`)
  return rows.map((r) => ({ locationId: r.location_id, available: Number(r.available) }))
}

/** Applies the marketplace's current state of an order. */
export async function applyChannelOrder(tx: Tx, actor: Actor, ref: ChannelRef, input: ChannelOrderInput, at: Date): Promise<ApplyOrderResult> {
  const updatedAt = new Date(input.updatedAt)
  if (Number.isNaN(updatedAt.getTime())) throw invalid('invalid_order', `order ${input.id} has no valid update time`)
  // When the goods left, for the stock ledger: the marketplace's time, but never ahead of ours (its clock may run
  // fast), or a stock count entered after the units left would count them as still there.
  const leftAt = updatedAt > at ? at : updatedAt
  const placedAt = input.placedAt ? new Date(input.placedAt) : null
  for (const l of input.lines) {
    if (!Number.isSafeInteger(l.quantity) || l.quantity < 0) throw invalid('invalid_order', `line ${l.id} of order ${input.id} has quantity ${l.quantity}`)
    if (l.shipped !== undefined && (!Number.isSafeInteger(l.shipped) || l.shipped < 0)) throw invalid('invalid_order', `line ${l.id} of order ${input.id} has shipped ${l.shipped}`)
  }

  // One row per remote order; concurrent deliveries of the same order queue on its lock.
  await tx
    .insert(channelOrders)
    .values({ id: newId(), merchantId: ref.merchantId, connectionId: ref.connectionId, remoteOrderId: input.id, name: input.name, status: 'open', remoteUpdatedAt: updatedAt, createdAt: at, updatedAt: at })
    .onConflictDoNothing()
  const [order] = await tx
    .select()
    .from(channelOrders)
    .where(and(eq(channelOrders.connectionId, ref.connectionId), eq(channelOrders.remoteOrderId, input.id)))
    .for('update')
  const existingLines = await tx.select().from(channelOrderLines).where(eq(channelOrderLines.orderId, order!.id))
  const seenBefore = existingLines.length > 0 || order!.status !== 'open' || order!.flag !== null
  if (seenBefore && updatedAt.getTime() < order!.remoteUpdatedAt.getTime()) return { order: order!, applied: false }
  if (order!.status === 'collected' || order!.status === 'fulfilled') return givenBackAfterLeaving(tx, ref, order!, existingLines, input, updatedAt, at)
  // Marketplaces stamp states to the second: a create and a cancel in one second carry the same time, and the
  // create may arrive last. At the same time an order never goes back from cancelled to open.
  if (seenBefore && updatedAt.getTime() === order!.remoteUpdatedAt.getTime() && order!.status === 'cancelled' && input.status === 'open') {
    return { order: order!, applied: false }
  }

  // A pickup order stays one when a later state does not say where it is collected (a Shopify webhook never does).
  const maps = await locationMaps(tx, ref)
  const place = order!.pickup && !input.pickupLocationId && !input.locationId && order!.locationId ? { locationIds: [order!.locationId], remoteLocationId: null, pickup: true } : placement(maps, input)
  /** The line says itself where it ships from (the marketplace split the order over its locations). */
  const ownPlace = (l: ChannelOrderLineInput) => !place?.pickup && (!!l.locationId || !!l.split?.length)
  /**
   * Where a line's units come from: the remote location(s) the line ships from, each with the stores feeding it, or
   * else the order's place. Null when that is not mapped to stores of ours. Parts fed by the same stores are one.
   */
  const partsOf = (l: ChannelOrderLineInput): LinePart[] | null => {
    if (!ownPlace(l)) return place ? [{ place, quantity: l.quantity, shipped: l.shipped ?? 0 }] : null
    const named = l.split?.length ? l.split : [{ locationId: l.locationId!, quantity: l.quantity, shipped: l.shipped }]
    const parts: LinePart[] = []
    for (const p of named) {
      const at = placementAt(maps, p.locationId)
      if (!at) return null
      const shipped = Math.min(p.quantity, p.shipped ?? 0)
      const same = parts.find((x) => x.place.locationIds.join() === at.locationIds.join())
      if (same) Object.assign(same, { quantity: same.quantity + p.quantity, shipped: same.shipped + shipped, place: { ...same.place, remoteLocationId: null } })
      else parts.push({ place: at, quantity: p.quantity, shipped })
    }
    return parts.length ? parts : null
  }
  /** The remote location whose figure a line's holds stand for: null for several (or not known). */
  const remoteOf = (parts: LinePart[] | null) => (parts?.length === 1 ? parts[0]!.place.remoteLocationId : null)
  /** The part a hold belongs to: the first fed by the hold's store. */
  const partOfHold = (parts: LinePart[], h: Hold) => parts.find((p) => p.place.locationIds.includes(h.locationId))
  const variantOf = await resolveVariants(tx, ref, input.lines)
  const lines = new Map(existingLines.map((l) => [l.lineId, l]))
  // Goods that left and came off the order again (see below) stay flagged for a person, whatever state comes next.
  let flag: string | null = order!.flag === 'returned' ? 'returned' : null
  const raise = (f: string) => {
    if (flag === null || f === 'insufficient_stock') flag = f
  }
  // Units that left while the order was open and came off it again (cancelled, refunded, removed): as after a whole
  // shipment (see givenBackAfterLeaving), our stock stays as it is, the shops are pushed our figure again and the
  // order is flagged for the store to book the goods in if they come back.
  const inputLines = new Map(input.lines.map((l) => [l.id, l]))
  const givenBack = new Set<string>()
  for (const prev of existingLines) {
    const now = inputLines.get(prev.lineId)
    const taking = input.status === 'cancelled' || !now ? 0 : now.quantity
    if (prev.variantId && prev.shippedQuantity > taking) givenBack.add(prev.variantId)
  }
  if (givenBack.size) raise('returned')
  if (!place && input.status === 'open') raise('unmapped_location')

  const upsert = async (lineId: string, v: Partial<ChannelOrderLine> & { state: ChannelOrderLineState; quantity: number }) => {
    const shippedQuantity = v.shippedQuantity ?? lines.get(lineId)?.shippedQuantity ?? 0
    await tx
      .insert(channelOrderLines)
      .values({ orderId: order!.id, merchantId: ref.merchantId, lineId, sku: v.sku ?? null, variantId: v.variantId ?? null, quantity: v.quantity, shippedQuantity, reservationId: v.reservationId ?? null, state: v.state, updatedAt: at })
      .onConflictDoUpdate({
        target: [channelOrderLines.orderId, channelOrderLines.lineId],
        set: { quantity: v.quantity, shippedQuantity, variantId: v.variantId ?? null, reservationId: v.reservationId ?? null, state: v.state, updatedAt: at },
      })
  }

  /**
   * Units of a line that left while its order is open (shipped in part): taken out of its holds, first made first, as
   * they go; any beyond what was held leave the location all the same. A line shipped from several locations gives
   * first, at each, what its holds there have beyond what it still takes there. Returns what the line still holds.
   */
  const shipPart = async (holds: Hold[], units: number, variantId: string, lineId: string, parts: LinePart[] | null): Promise<Hold[]> => {
    let left = units
    const room = new Map(holds.map((h) => [h.id, h.quantity]))
    const take = async (h: Hold, most: number) => {
      const n = Math.min(left, room.get(h.id)!, most)
      if (n <= 0) return 0
      await consumeReservationPart(tx, actor, h.id, n, { causeType: 'reservation', causeId: h.id, occurredAt: leftAt })
      room.set(h.id, room.get(h.id)! - n)
      left -= n
      return n
    }
    if (parts && parts.length > 1) {
      for (const p of parts) {
        const there = holds.filter((h) => partOfHold(parts, h) === p)
        let gone = sum(there.map((h) => h.quantity)) - (p.quantity - p.shipped)
        for (const h of there) if (gone > 0) gone -= await take(h, gone)
      }
    }
    for (const h of holds) if (left > 0) await take(h, left)
    if (left > 0 && holds.length) {
      await applyMovements(tx, actor, [{ variantId, locationId: holds[0]!.locationId, quantity: -left, kind: 'sale', causeType: 'reservation', causeId: sourceId(ref, input.id, lineId), occurredAt: leftAt }], { policy: 'allow' })
    } else if (left > 0 && parts) await leaveUnheldParts(variantId, parts, left, lineId, parts.map((p) => p.shipped))
    return holdsOf(lineId)
  }

  /** Units that left without a hold, laid over the line's parts by these sizes (see leaveUnheld). */
  const leaveUnheldParts = async (variantId: string, parts: LinePart[], units: number, lineId: string, sizes: number[]) => {
    const amounts = parts.length === 1 ? [units] : spread(sizes, units)
    for (const [i, p] of parts.entries()) if (amounts[i]! > 0) await leaveUnheld(variantId, p.place.locationIds, amounts[i]!, lineId)
  }

  /**
   * Units that left without a hold (an order first seen shipped): from the locations that have them, most available
   * first, as a hold would take them; any beyond what they have from the one with the most.
   */
  const leaveUnheld = async (variantId: string, locationIds: string[], units: number, lineId: string) => {
    const places = locationIds.length === 1 ? [{ locationId: locationIds[0]!, available: units }] : await byAvailable(tx, variantId, locationIds)
    const taken = new Map<string, number>()
    let left = units
    for (const p of places) {
      const n = Math.min(left, p.available)
      if (n > 0) taken.set(p.locationId, n)
      left -= Math.max(n, 0)
    }
    if (left > 0) taken.set(places[0]!.locationId, (taken.get(places[0]!.locationId) ?? 0) + left)
    const causeId = sourceId(ref, input.id, lineId)
    await applyMovements(tx, actor, [...taken].map(([locationId, n]) => ({ variantId, locationId, quantity: -n, kind: 'sale' as const, causeType: 'reservation' as const, causeId, occurredAt: leftAt })), { policy: 'allow' })
  }

  // What a line holds: one reservation, or parts at several locations when no single one could cover it (in the
  // order they were made). Found by the line's source, which every part shares.
  const holdsOf = async (lineId: string) =>
    tx
      .select()
      .from(stockReservations)
      .where(
        and(
          eq(stockReservations.merchantId, ref.merchantId),
          eq(stockReservations.sourceType, RESERVATION_SOURCE),
          eq(stockReservations.sourceId, sourceId(ref, input.id, lineId)),
          eq(stockReservations.status, 'active'),
        ),
      )
      .orderBy(stockReservations.createdAt, stockReservations.id)

  // Holds given back: whether the marketplace put the units back on its side is not known (see forgetBelievedRemote).
  const release = async (holds: Hold[], remoteLocationId: string | null = place?.remoteLocationId ?? null) => {
    for (const h of holds) await releaseReservation(tx, actor, h.id)
    // Pushed again either way: the location holding them may have left the channel's map since (the stock trigger
    // then queues nothing for this connection).
    if (holds.length && !order!.pickup) await forgetBelievedRemote(tx, ref.connectionId, holds[0]!.variantId, remoteLocationId, { ref, at })
  }

  // Holds brought down to `quantity` in all, the last made given up first.
  const shrink = async (holds: Hold[], quantity: number): Promise<Hold[]> => {
    let excess = sum(holds.map((h) => h.quantity)) - quantity
    const kept = [...holds]
    while (excess > 0 && kept.length) {
      const last = kept.at(-1)!
      if (last.quantity <= excess) {
        await releaseReservation(tx, actor, last.id)
        excess -= last.quantity
        kept.pop()
      } else {
        await shrinkReservation(tx, actor, last.id, last.quantity - excess)
        kept[kept.length - 1] = { ...last, quantity: last.quantity - excess }
        excess = 0
      }
    }
    return kept
  }

  /**
   * Holds `quantity` for a line: at the one location with the most available that covers it, else in parts across
   * the locations, most available first. All or nothing: parts already made are given back when the rest is not there.
   */
  const hold = async (variantId: string, locationIds: string[], quantity: number, lineId: string): Promise<{ holds: Hold[]; created: boolean } | null> => {
    const source = { variantId, sourceType: RESERVATION_SOURCE, sourceId: sourceId(ref, input.id, lineId) }
    const attempt = async (locationId: string, n: number) => {
      try {
        const r = await reserve(tx, actor, { ...source, locationId, quantity: n })
        return r.reservation.status === 'active' ? r : null
      } catch (e) {
        if ((e as { code?: string }).code !== 'insufficient_stock') throw e
        return null
      }
    }
    if (locationIds.length === 1) {
      const r = await attempt(locationIds[0]!, quantity)
      return r ? { holds: [r.reservation], created: r.created } : null
    }
    const places = await byAvailable(tx, variantId, locationIds)
    for (const p of places) {
      const r = await attempt(p.locationId, quantity)
      if (r) return { holds: [r.reservation], created: r.created }
    }
    if (sum(places.map((p) => p.available)) < quantity) return null
    const parts: Hold[] = []
    let left = quantity
    for (const p of places) {
      if (left === 0) break
      const n = Math.min(left, p.available)
      if (n <= 0) continue
      const r = await attempt(p.locationId, n)
      if (!r) break
      parts.push(r.reservation)
      left -= n
    }
    if (left > 0) {
      for (const h of parts) await releaseReservation(tx, actor, h.id)
      return null
    }
    return { holds: parts, created: true }
  }

  /**
   * Holds `quantity` for a line over its parts: each part what it still takes (see spread), at the stores feeding its
   * remote location (see hold). All or nothing.
   */
  const holdParts = async (variantId: string, parts: LinePart[], quantity: number, lineId: string): Promise<{ holds: Hold[]; created: boolean } | null> => {
    if (parts.length === 1) return hold(variantId, parts[0]!.place.locationIds, quantity, lineId)
    const amounts = spread(parts.map((p) => p.quantity - p.shipped), quantity)
    const made: Hold[] = []
    for (const [i, p] of parts.entries()) {
      if (amounts[i] === 0) continue
      const r = await hold(variantId, p.place.locationIds, amounts[i]!, lineId)
      if (!r) {
        for (const h of made) await releaseReservation(tx, actor, h.id)
        return null
      }
      made.push(...r.holds)
    }
    return { holds: made, created: true }
  }

  /**
   * Holds not where the line's parts say its `quantity` units ship from (as holdParts would lay them): made before the
   * marketplace said, where the most was available. Only asked while nothing of the line has shipped.
   */
  const misplaced = (holds: Hold[], parts: LinePart[], quantity: number) => {
    if (holds.some((h) => !partOfHold(parts, h))) return true
    if (parts.length === 1) return false
    const amounts = spread(parts.map((p) => p.quantity - p.shipped), quantity)
    return parts.some((p, i) => sum(holds.filter((h) => partOfHold(parts, h) === p).map((h) => h.quantity)) !== amounts[i])
  }

  // Lines the marketplace no longer lists (removed from the order) hold nothing any more.
  for (const prev of existingLines) {
    if (inputLines.has(prev.lineId) || prev.state === 'consumed' || prev.state === 'released') continue
    await release(await holdsOf(prev.lineId))
    await upsert(prev.lineId, { sku: prev.sku, variantId: prev.variantId, quantity: 0, reservationId: prev.reservationId, state: 'released' })
  }

  /** Variants the order already held before this state (not pickup goods, which the shop never counts). */
  const heldBefore = new Set<string>()
  /** The holds of the lines left held by this state. */
  const heldNow: Hold[] = []
  /** The remote location each variant's lines ship from, when they all say one (null: several, or not known). */
  const remoteOfVariant = new Map<string, string | null>()
  const noteRemote = (variantId: string, remote: string | null) => remoteOfVariant.set(variantId, remoteOfVariant.has(variantId) && remoteOfVariant.get(variantId) !== remote ? null : remote)
  const remoteFor = (variantId: string) => (remoteOfVariant.has(variantId) ? remoteOfVariant.get(variantId)! : (place?.remoteLocationId ?? null))
  // Lines in (variant) order, so two orders for the same goods lock stock levels in the same order.
  const ordered = [...input.lines].sort((a, b) => ((variantOf.get(a.id) ?? '') < (variantOf.get(b.id) ?? '') ? -1 : 1))
  for (const l of ordered) {
    const prev = lines.get(l.id)
    const variantId = variantOf.get(l.id) ?? prev?.variantId ?? null
    let holds = prev ? await holdsOf(l.id) : []
    // Units that left before the order was done (never fewer than already taken off: a return is a person's call).
    const shippedBefore = prev?.shippedQuantity ?? 0
    const shipped = Math.min(l.quantity, Math.max(shippedBefore, input.status === 'open' ? (l.shipped ?? 0) : 0))
    const parts = partsOf(l)
    const remote = remoteOf(parts)
    if (variantId) noteRemote(variantId, remote)

    if (input.status === 'cancelled' || l.quantity === 0) {
      await release(holds, remote)
      await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, reservationId: prev?.reservationId ?? null, state: prev?.state === 'consumed' ? 'consumed' : 'released' })
      continue
    }
    if (!variantId) {
      raise('unmapped_lines')
      await upsert(l.id, { sku: l.sku, quantity: l.quantity, state: 'unmapped' })
      continue
    }
    if (prev?.state === 'consumed') continue

    if (input.status === 'fulfilled') {
      // What is left to go: the line less what already left while the order was open.
      const rest = l.quantity - shippedBefore
      const heldQuantity = sum(holds.map((h) => h.quantity))
      if (rest <= 0) {
        await release(holds, remote)
        await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, reservationId: prev?.reservationId ?? null, state: 'consumed' })
      } else if (holds.length) {
        const kept = rest < heldQuantity ? await shrink(holds, rest) : holds
        for (const h of kept) await consumeReservation(tx, actor, h.id, { causeType: 'reservation', causeId: h.id, occurredAt: leftAt })
        // More shipped than was held (the line grew while open, flagged quantity_increased): the rest left too.
        if (rest > heldQuantity) {
          await applyMovements(
            tx,
            actor,
            [{ variantId, locationId: holds[0]!.locationId, quantity: heldQuantity - rest, kind: 'sale', causeType: 'reservation', causeId: sourceId(ref, input.id, l.id), occurredAt: leftAt }],
            { policy: 'allow' },
          )
        }
        await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, reservationId: holds[0]!.id, state: 'consumed' })
      } else if (parts) {
        // Never held (first seen fulfilled, or it could not be covered): the goods left all the same.
        await leaveUnheldParts(variantId, parts, rest, l.id, parts.map((p) => p.quantity))
        await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, reservationId: prev?.reservationId ?? null, state: 'consumed' })
      } else await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, state: 'short' })
      continue
    }

    // Open, shipped in part since last seen: those units left now.
    if (shipped > shippedBefore && (holds.length || parts)) holds = await shipPart(holds, shipped - shippedBefore, variantId, l.id, parts)
    const shippedNow = shipped > shippedBefore && (holds.length || parts) ? shipped : shippedBefore
    const reservationId = prev?.reservationId ?? null
    // Every unit of the line has left: nothing more to hold, the line is done.
    if (shippedNow >= l.quantity && shippedNow > 0) {
      await release(holds, remote)
      await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, shippedQuantity: shippedNow, reservationId, state: 'consumed' })
      continue
    }
    // Open: hold exactly what the line still takes.
    const toHold = l.quantity - shippedNow
    // Held before the marketplace said where the line ships from (an earlier state did not: a Shopify webhook), at
    // stores that do not feed it: given back, and held again where it ships from.
    if (holds.length && parts && ownPlace(l) && shippedNow === 0 && misplaced(holds, parts, toHold)) {
      await release(holds, null)
      holds = []
    }
    const heldQuantity = sum(holds.map((h) => h.quantity))
    if (holds.length) {
      if (toHold < heldQuantity) await shrink(holds, toHold)
      else if (toHold > heldQuantity) raise('quantity_increased')
      await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, shippedQuantity: shippedNow, reservationId: holds[0]!.id, state: 'held' })
      heldBefore.add(variantId)
      heldNow.push(...holds)
      continue
    }
    if (!parts) {
      // A line shipping from a remote location no store of ours feeds.
      if (ownPlace(l)) raise('unmapped_location')
      await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, state: 'short' })
      continue
    }
    const held = await holdParts(variantId, parts, toHold, l.id)
    if (!held) {
      raise('insufficient_stock')
      await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, shippedQuantity: shippedNow, state: 'short' })
      continue
    }
    // The marketplace already took the units off its own quantity (shipped and held alike), at the location each
    // part ships from: the push to it has nothing left to send.
    if (held.created && !parts[0]!.place.pickup) {
      const taken = spread(parts.map((p) => p.quantity), l.quantity - shippedBefore)
      for (const [i, p] of parts.entries()) if (taken[i]! > 0) await takeOrderOffBelievedRemote(tx, ref.connectionId, variantId, p.place.remoteLocationId, taken[i]!, placedAt)
    }
    await upsert(l.id, { sku: l.sku, variantId, quantity: l.quantity, shippedQuantity: shippedNow, reservationId: held.holds[0]!.id, state: 'held' })
    heldNow.push(...held.holds)
  }
  // A hold whose units were taken since (an offline sale, a stock count: see flagOrdersLosingCover) flags the order as
  // a line that cannot be held does, for as long as the stock does not cover it: each state applied looks again.
  if (input.status === 'open' && heldNow.length) {
    const mine = new Set(heldNow.map((h) => h.id))
    if ((await uncoveredHolds(tx, ref.merchantId, heldNow)).some((h) => mine.has(h.id))) raise('insufficient_stock')
  }

  for (const variantId of givenBack) await forgetBelievedRemote(tx, ref.connectionId, variantId, remoteFor(variantId), { ref, at })
  // The marketplace took the units off its own stock only now (the order was paid): what we last pushed or read no
  // longer stands for the goods it held, and it is pushed our figure again (it would otherwise count them twice).
  const takenNow = order!.stockTakenAt === null && placedAt !== null && seenBefore && input.status === 'open' && !(place?.pickup ?? order!.pickup)
  if (takenNow) for (const variantId of heldBefore) await forgetBelievedRemote(tx, ref.connectionId, variantId, remoteFor(variantId), { ref, at })

  const status: ChannelOrderStatus = input.status
  const locationId = place?.locationIds[0] ?? order!.locationId
  const [updated] = await tx
    .update(channelOrders)
    .set({ name: input.name, status, remoteUpdatedAt: updatedAt, locationId, pickup: place?.pickup ?? order!.pickup, flag, stockTakenAt: order!.stockTakenAt ?? placedAt, updatedAt: at })
    .where(eq(channelOrders.id, order!.id))
    .returning()
  if (flag && flag !== order!.flag) {
    await recordEvents(tx, ref.merchantId, [
      { type: 'channel_order.flagged', entityType: 'channel_order', entityId: order!.id, data: { connectionId: ref.connectionId, remoteOrderId: input.id, name: input.name, flag } },
    ])
  }
  return { order: updated!, applied: true }
}

/**
 * The active holds at these levels that on-hand no longer covers (it fell below what the level holds: an offline
 * sale or a stock count took held units). The shortfall is laid on the holds made last, as many as it takes: the
 * holds made first keep the units there are, as they would have had the stock gone before the later holds were made
 * (a hold is never made beyond what is available).
 */
async function uncoveredHolds(tx: Tx, merchantId: string, levels: { variantId: string; locationId: string }[]): Promise<{ id: string; sourceType: string; sourceId: string }[]> {
  const keys = [...new Map(levels.map((l) => [`${l.locationId}/${l.variantId}`.toLowerCase(), { v: l.variantId, l: l.locationId }])).values()]
  if (keys.length === 0) return []
  const { rows } = await tx.execute<{ id: string; source_type: string; source_id: string }>(sql`
    select x.id, x.source_type, x.source_id from (
      select r.id, r.source_type, r.source_id, s.reserved - greatest(s.on_hand, 0) as short,
             coalesce(sum(r.quantity) over (partition by r.location_id, r.variant_id order by r.created_at desc, r.id desc
                                            rows between unbounded preceding and 1 preceding), 0) as later
        from jsonb_to_recordset(${JSON.stringify(keys)}::jsonb) as k(v uuid, l uuid)
        join stock_levels s on s.location_id = k.l and s.variant_id = k.v and s.merchant_id = ${merchantId} and s.on_hand < s.reserved
        join stock_reservations r on r.location_id = k.l and r.variant_id = k.v and r.merchant_id = ${merchantId} and r.status = 'active'
    ) x
     where x.later < x.short`)
  return rows.map((r) => ({ id: r.id, sourceType: r.source_type, sourceId: r.source_id }))
}

/**
 * Flags `insufficient_stock` the open orders whose holds at these levels a stock change left uncovered (see
 * uncoveredHolds): called where a change may take held units (an offline sale, a posted count), with the levels it
 * took them at (ApplyResult.holdsTaken). The flag stays while the hold is not covered; a state of the order applied
 * once the stock covers it again clears it (applyChannelOrder). An order being applied at this moment is skipped, not
 * waited for (its apply locks it before stock levels, this caller holds the levels first: waiting could deadlock):
 * the state being applied looks at its holds itself, and one that looked before this change committed leaves the
 * flag to the order's next state.
 */
export async function flagOrdersLosingCover(
  tx: Tx,
  merchantId: string,
  levels: { variantId: string; locationId: string }[],
  at: Date,
): Promise<{ id: string; connectionId: string; remoteOrderId: string; name: string }[]> {
  const holds = (await uncoveredHolds(tx, merchantId, levels)).filter((h) => h.sourceType === RESERVATION_SOURCE)
  // A channel order's hold is sourced `connection:remote order:line` (see sourceId); the connection is a UUID.
  const connectionIds = [...new Set(holds.map((h) => h.sourceId.split(':')[0]!))].filter((c) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(c))
  if (connectionIds.length === 0) return []
  const flag = 'insufficient_stock'
  const { rows } = await tx.execute<{ id: string; connection_id: string; remote_order_id: string; name: string }>(sql`
    with target as (
      select o.id from channel_orders o
        join channel_order_lines ol on ol.order_id = o.id
       where o.merchant_id = ${merchantId} and o.connection_id = any(${sql.param(connectionIds)}::uuid[]) and o.status = 'open'
         and o.flag is distinct from ${flag}
         and o.connection_id::text || ':' || o.remote_order_id || ':' || ol.line_id = any(${sql.param(holds.map((h) => h.sourceId))}::text[])
         for update of o skip locked)
    update channel_orders o set flag = ${flag}, updated_at = ${at.toISOString()}::timestamptz
      from (select distinct id from target) t
     where o.id = t.id
    returning o.id, o.connection_id, o.remote_order_id, o.name`)
  await recordEvents(
    tx,
    merchantId,
    rows.map((o) => ({ type: 'channel_order.flagged', entityType: 'channel_order', entityId: o.id, data: { connectionId: o.connection_id, remoteOrderId: o.remote_order_id, name: o.name, flag } })),
  )
  return rows.map((o) => ({ id: o.id, connectionId: o.connection_id, remoteOrderId: o.remote_order_id, name: o.name }))
}

/**
 * A later state of an order whose goods already left (shipped or collected) that gives units back: a refund or a
 * cancellation there. The marketplace may have put them back on its own stock, but whether they reached one of our
 * stores is not known here, so our stock stays as it is: the shops are pushed our figure again for those variants,
 * and the order is flagged `returned`, for the store to book the goods in if they come back. Anything else (the same
 * state again) changes nothing.
 */
async function givenBackAfterLeaving(tx: Tx, ref: ChannelRef, order: ChannelOrder, lines: ChannelOrderLine[], input: ChannelOrderInput, updatedAt: Date, at: Date): Promise<ApplyOrderResult> {
  const nowHeld = new Map(input.lines.map((l) => [l.id, input.status === 'cancelled' ? 0 : l.quantity]))
  const back = lines.filter((l) => l.state === 'consumed' && l.variantId && (nowHeld.get(l.lineId) ?? 0) < l.quantity)
  if (back.length === 0) return { order, applied: false }
  const place = placement(await locationMaps(tx, ref), input)
  for (const variantId of new Set(back.map((l) => l.variantId!))) {
    await forgetBelievedRemote(tx, ref.connectionId, variantId, place?.remoteLocationId ?? null, { ref, at })
  }
  const flag = 'returned'
  const [updated] = await tx
    .update(channelOrders)
    .set({ name: input.name, remoteUpdatedAt: updatedAt, flag, updatedAt: at })
    .where(eq(channelOrders.id, order.id))
    .returning()
  if (order.flag !== flag) {
    await recordEvents(tx, ref.merchantId, [
      { type: 'channel_order.flagged', entityType: 'channel_order', entityId: order.id, data: { connectionId: ref.connectionId, remoteOrderId: input.id, name: input.name, flag } },
    ])
  }
  return { order: updated!, applied: true }
}

/**
 * An order the marketplace no longer has (a WooCommerce order deleted for good: reading it answers 404) is cancelled
 * here, its holds given back. Null when there is nothing open to cancel.
 */
export async function cancelVanishedChannelOrder(tx: Tx, actor: Actor, ref: ChannelRef, remoteOrderId: string, at: Date): Promise<ApplyOrderResult | null> {
  const [order] = await tx
    .select()
    .from(channelOrders)
    .where(and(eq(channelOrders.connectionId, ref.connectionId), eq(channelOrders.remoteOrderId, remoteOrderId)))
  if (!order || order.status !== 'open') return null
  const lines = await tx.select().from(channelOrderLines).where(eq(channelOrderLines.orderId, order.id))
  // Stamped no earlier than the last state applied, so it is not taken for an older one.
  const stamp = new Date(Math.max(at.getTime(), order.remoteUpdatedAt.getTime()))
  return applyChannelOrder(
    tx,
    actor,
    ref,
    { id: remoteOrderId, name: order.name, status: 'cancelled', updatedAt: stamp.toISOString(), locationId: null, pickupLocationId: null, lines: lines.map((l) => ({ id: l.lineId, sku: l.sku, externalId: null, quantity: l.quantity })) },
    at,
  )
}

/** Hands a pickup order over at its store: each hold becomes the movement of the goods leaving, once. */
export async function collectChannelOrder(tx: Tx, actor: Actor, id: string, at: Date): Promise<ChannelOrder> {
  const [order] = await tx
    .select()
    .from(channelOrders)
    .where(and(eq(channelOrders.id, id), eq(channelOrders.merchantId, actor.merchantId)))
    .for('update')
  if (!order) throw notFound('channel_order', id)
  if (!order.pickup) throw conflict('not_a_pickup_order', 'only pickup orders are collected in store; the marketplace fulfils the others')
  if (order.status === 'collected') return order
  if (order.status !== 'open') throw conflict('order_not_open', `the order is ${order.status}`)
  const lines = await tx.select().from(channelOrderLines).where(eq(channelOrderLines.orderId, id))
  if (lines.some((l) => l.state === 'short' || l.state === 'unmapped')) throw conflict('order_not_covered', 'some lines hold no stock; resolve the order first', { lines: lines.filter((l) => l.state === 'short' || l.state === 'unmapped').map((l) => l.lineId) })
  for (const l of lines) {
    if (l.state !== 'held' || !l.reservationId) continue
    await consumeReservation(tx, actor, l.reservationId, { causeType: 'reservation', causeId: l.reservationId, occurredAt: at })
    await tx.update(channelOrderLines).set({ state: 'consumed', updatedAt: at }).where(and(eq(channelOrderLines.orderId, id), eq(channelOrderLines.lineId, l.lineId)))
  }
  const [updated] = await tx
    .update(channelOrders)
    .set({ status: 'collected', collectedAt: at, collectedBy: actor.type === 'user' ? actor.id : null, updatedAt: at })
    .where(eq(channelOrders.id, id))
    .returning()
  await recordEvents(tx, actor.merchantId, [{ type: 'channel_order.collected', entityType: 'channel_order', entityId: id, data: { connectionId: order.connectionId, remoteOrderId: order.remoteOrderId, name: order.name } }])
  return updated!
}

export async function getChannelOrder(tx: Tx, merchantId: string, id: string): Promise<ChannelOrder & { lines: ChannelOrderLine[] }> {
  const [order] = await tx
    .select()
    .from(channelOrders)
    .where(and(eq(channelOrders.id, id), eq(channelOrders.merchantId, merchantId)))
  if (!order) throw notFound('channel_order', id)
  const lines = await tx.select().from(channelOrderLines).where(eq(channelOrderLines.orderId, id)).orderBy(channelOrderLines.lineId)
  return { ...order, lines }
}

export async function listChannelOrders(tx: Tx, merchantId: string, f: { connectionId?: string; status?: ChannelOrderStatus; flagged?: boolean; before?: string; limit: number }) {
  const rows = await tx
    .select()
    .from(channelOrders)
    .where(
      and(
        eq(channelOrders.merchantId, merchantId),
        f.connectionId ? eq(channelOrders.connectionId, f.connectionId) : undefined,
        f.status ? eq(channelOrders.status, f.status) : undefined,
        f.flagged === undefined ? undefined : f.flagged ? sql`${channelOrders.flag} is not null` : sql`${channelOrders.flag} is null`,
        f.before ? lt(channelOrders.id, f.before) : undefined,
      ),
    )
    .orderBy(desc(channelOrders.id))
    .limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}
