// Webhook subscriptions: a merchant's URL that receives the hub events it names. The signing secret is generated
// here, sealed at rest, and handed out only by `createSubscription` and `rotateSecret` (like an API key).
//
// URLs must be https. Plain http is accepted for loopback hosts (localhost, 127.0.0.0/8, ::1) — a receiver on the
// same machine — and for any other host only when the caller says `allowInsecureHttp: true`, an explicit choice
// for a receiver on a private network. URLs carrying a user name or password are refused: they would be stored and
// shown unsealed. Link-local and cloud metadata addresses are refused (src/lib/net-guard.ts), here and again on
// every delivery for the addresses a host name resolves to.
import { and, asc, eq, gt, isNull, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { badRequest, notFound } from '../lib/errors.ts'
import { newId } from '../lib/ids.ts'
import { refusedHost } from '../lib/net-guard.ts'
import type { SecretBox } from '../lib/secrets.ts'
import { systemActor, type Actor } from '../core/staff/actor.ts'
import { recordAudit } from '../core/staff/audit.ts'
import { ALL_EVENTS, isKnownEventType } from './event-types.ts'
import { generateSigningSecret } from './signing.ts'
import { webhookDeliveries, webhookSubscriptions } from './schema.ts'

export type SubscriptionRow = typeof webhookSubscriptions.$inferSelect

/** A subscription as the API shows it: never the secret. */
export interface SubscriptionView {
  id: string
  url: string
  description: string | null
  eventTypes: string[]
  enabled: boolean
  /** Since when every attempt to its receiver failed; null while deliveries get through. */
  failingSince: Date | null
  /** 'failing' when the hub switched it off after FAILING_DISABLE_MS of failures; null otherwise. */
  disabledReason: 'failing' | null
  createdAt: Date
  updatedAt: Date
}

export const viewSubscription = (r: SubscriptionRow): SubscriptionView => ({
  id: r.id,
  url: r.url,
  description: r.description,
  eventTypes: r.eventTypes,
  enabled: r.enabled,
  failingSince: r.failingSince,
  disabledReason: r.disabledReason,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
})

export interface SubscriptionInput {
  url: string
  eventTypes: string[]
  description?: string | null
  enabled?: boolean
  /** Accept an http:// URL on a host other than loopback. */
  allowInsecureHttp?: boolean
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

export function checkUrl(raw: string, allowInsecureHttp = false): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw badRequest('invalid_url', 'url must be an absolute URL such as https://example.com/hooks')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badRequest('invalid_url', 'url must use https')
  if (url.username || url.password) throw badRequest('invalid_url', 'url must not carry a user name or password; authenticate deliveries by their signature')
  const refused = refusedHost(url)
  if (refused) throw badRequest('refused_address', `url must not point at ${refused}`)
  if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname) && !allowInsecureHttp) {
    throw badRequest('insecure_url', 'url must use https (http is accepted for localhost, or with allowInsecureHttp: true)')
  }
  url.hash = ''
  return url.toString()
}

export function checkEventTypes(types: string[]): string[] {
  const unique = [...new Set(types)]
  if (unique.length === 0) throw badRequest('invalid_event_types', "eventTypes must name at least one event type, or '*' for all")
  const unknown = unique.filter((t) => t !== ALL_EVENTS && !isKnownEventType(t))
  if (unknown.length > 0) {
    throw badRequest('unknown_event_type', `unknown event type ${unknown.map((t) => `"${t}"`).join(', ')}; GET /api/v1/webhook-event-types lists them`, { unknown })
  }
  return unique.includes(ALL_EVENTS) ? [ALL_EVENTS] : unique.sort()
}

async function load(tx: Tx, merchantId: string, id: string, opts: { lock?: boolean; deleted?: boolean } = {}): Promise<SubscriptionRow> {
  const q = tx
    .select()
    .from(webhookSubscriptions)
    .where(and(eq(webhookSubscriptions.merchantId, merchantId), eq(webhookSubscriptions.id, id), opts.deleted ? undefined : isNull(webhookSubscriptions.deletedAt)))
  const [row] = opts.lock ? await q.for('update') : await q
  if (!row) throw notFound('webhook_subscription', id)
  return row
}

/** A subscription of the merchant; `deleted` finds one that was deleted too (its delivery log stays). */
export const getSubscription = (tx: Tx, merchantId: string, id: string, opts: { deleted?: boolean } = {}) => load(tx, merchantId, id, opts)

export async function listSubscriptions(tx: Tx, merchantId: string, opts: { after?: string; limit: number }) {
  const rows = await tx
    .select()
    .from(webhookSubscriptions)
    .where(and(eq(webhookSubscriptions.merchantId, merchantId), isNull(webhookSubscriptions.deletedAt), opts.after ? gt(webhookSubscriptions.id, opts.after) : undefined))
    .orderBy(asc(webhookSubscriptions.id))
    .limit(opts.limit)
  return { items: rows, nextCursor: rows.length === opts.limit ? rows[rows.length - 1]!.id : null }
}

export interface WithSecret {
  subscription: SubscriptionRow
  /** The `whsec_…` signing secret, shown once. */
  secret: string
}

export async function createSubscription(tx: Tx, secrets: SecretBox, actor: Actor, input: SubscriptionInput): Promise<WithSecret> {
  const secret = generateSigningSecret()
  const [row] = await tx
    .insert(webhookSubscriptions)
    .values({
      id: newId(),
      merchantId: actor.merchantId,
      url: checkUrl(input.url, input.allowInsecureHttp),
      description: input.description ?? null,
      eventTypes: checkEventTypes(input.eventTypes),
      sealedSecret: secrets.encrypt(secret),
      enabled: input.enabled ?? true,
    })
    .returning()
  await recordAudit(tx, actor, { action: 'webhook_subscription.created', entityType: 'webhook_subscription', entityId: row!.id, details: { url: row!.url, eventTypes: row!.eventTypes } })
  return { subscription: row!, secret }
}

export async function updateSubscription(tx: Tx, actor: Actor, id: string, patch: Partial<SubscriptionInput>, now: Date): Promise<SubscriptionRow> {
  const current = await load(tx, actor.merchantId, id, { lock: true })
  const set: Partial<typeof webhookSubscriptions.$inferInsert> = { updatedAt: now }
  if (patch.url !== undefined) set.url = checkUrl(patch.url, patch.allowInsecureHttp)
  if (patch.eventTypes !== undefined) set.eventTypes = checkEventTypes(patch.eventTypes)
  if (patch.description !== undefined) set.description = patch.description
  if (patch.enabled !== undefined) {
    set.enabled = patch.enabled
    // Switched on or off by a person: the hub's reason and its count of failures start again.
    Object.assign(set, { disabledReason: null, failingSince: null })
  }
  const [row] = await tx.update(webhookSubscriptions).set(set).where(eq(webhookSubscriptions.id, current.id)).returning()
  const changed = Object.keys(set).filter((k) => k !== 'updatedAt')
  await recordAudit(tx, actor, { action: 'webhook_subscription.updated', entityType: 'webhook_subscription', entityId: id, details: { changed, enabled: row!.enabled } })
  return row!
}

/** A subscription whose receiver failed every attempt for this long is switched off by the hub. */
export const FAILING_DISABLE_MS = 3 * 24 * 3_600_000

/**
 * Counts a delivery attempt towards the subscription's failing streak: one that got through ends it; a failed one
 * starts it or, once the receiver has failed every attempt for FAILING_DISABLE_MS, switches the subscription off
 * and parks what waits for it (a receiver gone for good is not called for ever; a person switches it on again).
 * Returns whether it was switched off.
 */
export async function countAttempt(tx: Tx, sub: SubscriptionRow, ok: boolean, at: Date): Promise<boolean> {
  if (ok) {
    if (sub.failingSince) await tx.update(webhookSubscriptions).set({ failingSince: null }).where(and(eq(webhookSubscriptions.id, sub.id), sql`${webhookSubscriptions.failingSince} is not null`))
    return false
  }
  const [row] = await tx
    .update(webhookSubscriptions)
    .set({ failingSince: sql`coalesce(${webhookSubscriptions.failingSince}, ${at.toISOString()}::timestamptz)` })
    .where(eq(webhookSubscriptions.id, sub.id))
    .returning()
  if (!row!.enabled || at.getTime() - row!.failingSince!.getTime() < FAILING_DISABLE_MS) return false
  await tx.update(webhookSubscriptions).set({ enabled: false, disabledReason: 'failing', updatedAt: at }).where(eq(webhookSubscriptions.id, sub.id))
  await parkDeliveries(
    tx,
    sql`${webhookDeliveries.id} in (select id from webhook_deliveries where merchant_id = ${sub.merchantId} and subscription_id = ${sub.id} and status = 'pending'
                                     for update skip locked)`,
    'subscription disabled: its receiver failed every attempt for 3 days',
  )
  await recordAudit(tx, systemActor(sub.merchantId, 'webhooks'), {
    action: 'webhook_subscription.disabled',
    entityType: 'webhook_subscription',
    entityId: sub.id,
    details: { reason: 'failing', failingSince: row!.failingSince!.toISOString(), url: sub.url },
  })
  return true
}

/** Parks deliveries: failed, with no attempt to come (only a replay sends one again), and why. */
export const parkDeliveries = (tx: Tx, where: SQL, why: string) => tx.update(webhookDeliveries).set({ status: 'failed', nextAttemptAt: null, lastError: why }).where(where)

/** Soft delete: the row stays for its delivery log; nothing more is sent to it. */
export async function deleteSubscription(tx: Tx, actor: Actor, id: string, now: Date): Promise<SubscriptionRow> {
  await load(tx, actor.merchantId, id, { lock: true })
  const [row] = await tx.update(webhookSubscriptions).set({ enabled: false, deletedAt: now, updatedAt: now }).where(eq(webhookSubscriptions.id, id)).returning()
  // Deliveries still waiting for a retry are parked now, not when their retry comes round (up to hours later); one
  // being sent at this moment too: its send, once answered, counts as delivered if the receiver took it, and is not
  // retried if not (see deliver).
  await parkDeliveries(
    tx,
    sql`${webhookDeliveries.id} in (select id from webhook_deliveries where merchant_id = ${actor.merchantId} and subscription_id = ${id} and status = 'pending'
                                     for update skip locked)`,
    'subscription deleted',
  )
  await recordAudit(tx, actor, { action: 'webhook_subscription.deleted', entityType: 'webhook_subscription', entityId: id })
  return row!
}

/** A new secret takes effect at once: deliveries from now on are signed with it only. */
export async function rotateSecret(tx: Tx, secrets: SecretBox, actor: Actor, id: string, now: Date): Promise<WithSecret> {
  await load(tx, actor.merchantId, id, { lock: true })
  const secret = generateSigningSecret()
  const [row] = await tx.update(webhookSubscriptions).set({ sealedSecret: secrets.encrypt(secret), updatedAt: now }).where(eq(webhookSubscriptions.id, id)).returning()
  await recordAudit(tx, actor, { action: 'webhook_subscription.secret_rotated', entityType: 'webhook_subscription', entityId: id })
  return { subscription: row!, secret }
}
