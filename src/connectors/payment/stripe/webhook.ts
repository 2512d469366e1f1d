// Stripe webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…][,v0=…]`, the HMAC
// taken with the endpoint secret (`whsec_…`, used whole as the key) over "<t>.<raw body>". Several v1 values appear
// while a secret is being rolled; any one matching is enough. Events older than the tolerance are refused, so a
// captured request cannot be replayed later.
import { createHmac } from 'node:crypto'
import { safeEqual } from '../../framework/signatures.ts'
import type { InboundRequest, ParsedWebhook } from '../../framework/define.ts'

export const STRIPE_TOLERANCE_SECONDS = 300

export function stripeSignature(secret: string, timestamp: number, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')
}

export function verifyStripeSignature(req: InboundRequest, secret: string | undefined, now: Date): boolean {
  const header = req.headers['stripe-signature']
  if (!secret || !header) return false
  let t: number | undefined
  const v1: string[] = []
  for (const part of header.split(',')) {
    const [k, v] = part.split('=', 2).map((s) => s.trim())
    if (k === 't' && v && /^\d+$/.test(v)) t = Number(v)
    else if (k === 'v1' && v) v1.push(v)
  }
  if (t === undefined || v1.length === 0) return false
  if (Math.abs(now.getTime() / 1000 - t) > STRIPE_TOLERANCE_SECONDS) return false
  const expected = stripeSignature(secret, t, req.rawBody)
  let ok = false
  for (const candidate of v1) ok = safeEqual(candidate, expected) || ok
  return ok
}

export function parseStripeEvent(req: InboundRequest): ParsedWebhook {
  const event = JSON.parse(req.rawBody.toString('utf8')) as { id?: unknown; type?: unknown; created?: unknown; data?: unknown }
  if (typeof event.id !== 'string' || typeof event.type !== 'string') throw new Error('a Stripe event has a string id and type')
  return {
    eventId: event.id,
    topic: event.type,
    occurredAt: typeof event.created === 'number' ? new Date(event.created * 1000) : undefined,
    data: event.data,
  }
}
