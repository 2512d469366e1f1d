// Card payments on a terminal (semi-integrated: the till sends the amount, the card never touches the till). Start
// with an Idempotency-Key (one per tender attempt: a repeat is the same payment), poll for the outcome, cancel.
// The vendor is called outside any database transaction; the hub records the payment before it calls.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { uuid } from '../schemas.ts'
import type { Context } from 'hono'
import { loadConnection } from '../../connectors/framework/connections.ts'
import { connectorRegistry } from '../../connectors/index.ts'
import { getDevice } from '../../core/devices/registry.ts'
import { getMerchant } from '../../core/merchants/service.ts'
import type { TerminalPaymentRow } from '../../core/devices/terminal-payments.ts'
import { getTerminalPayment } from '../../core/devices/terminal-payments.ts'
import { StripeTerminalError } from '../../devices/terminal/stripe-terminal.ts'
import { cancelTerminalPayment, refreshTerminalPayment, startTerminalPayment, type TerminalCredentials } from '../../devices/terminal/payments.ts'
import { badRequest, invalid, upstream } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'
import { checkIdempotencyKey } from '../middleware/unit-of-work.ts'

const tags = ['Devices']

const PaymentSchema = z
  .object({
    id: uuid(),
    deviceId: uuid(),
    idempotencyKey: z.string(),
    amount: z.number().int(),
    currency: z.string(),
    reference: z.string(),
    state: z.enum(['pending', 'cancel_requested', 'approved', 'declined', 'canceled', 'failed']),
    vendorPaymentId: z.string().nullable(),
    vendorChargeId: z.string().nullable(),
    cardBrand: z.string().nullable(),
    last4: z.string().nullable(),
    failureCode: z.string().nullable(),
    failureMessage: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('TerminalPayment')

const toPayment = (p: TerminalPaymentRow) => {
  const { merchantId: _m, requestedBy: _r, createdAt, updatedAt, ...rest } = p
  return { ...rest, createdAt: createdAt.toISOString(), updatedAt: updatedAt.toISOString() }
}

/** The terminal's connection credentials (a Stripe connection of the same merchant). */
async function credentials(c: Context<AppEnv>, deviceId: string): Promise<TerminalCredentials> {
  const db = c.var.hub.database.db
  const device = await getDevice(db, c.var.principal.merchantId, deviceId)
  if (!device.connectionId) throw invalid('connection_required', `terminal ${device.name} has no connection`)
  const conn = await loadConnection(db, connectorRegistry, c.var.hub.secrets, device.connectionId, c.var.principal.merchantId)
  if (conn.row.connectorId !== 'stripe') throw invalid('connection_not_stripe', 'a Stripe Terminal reader is driven through a Stripe connection')
  return { secretKey: String(conn.config.secretKey), baseUrl: String(conn.config.baseUrl) }
}

const vendorFailure = (e: unknown) => {
  if (e instanceof StripeTerminalError) return upstream('terminal_vendor_error', `the terminal's vendor answered: ${e.message}`, { code: e.code, outcomeUnknown: e.outcomeUnknown })
  return e
}

const start = defineRoute({
  method: 'post',
  path: '/api/v1/devices/{id}/payments',
  tags,
  summary: 'Start a card payment on a terminal',
  description:
    'Needs an Idempotency-Key (one per tender attempt; 1–255 visible ASCII characters): a repeat answers with the same payment and never charges twice; the key with another amount or reference is refused (422 idempotency_key_reused). 201 pending (or failed when the terminal refused: busy, offline); follow it at GET /api/v1/terminal-payments/{id}.',
  access: 'devices.use',
  upstream: 'The terminal’s vendor (Stripe)',
  transaction: false,
  request: {
    params: IdParam,
    body: jsonBody(z.object({ amount: z.number().int().positive().openapi({ description: 'Minor units' }), currency: z.string().length(3).optional(), reference: z.string().min(1).max(100) }).strict()),
  },
  responses: { 201: json(PaymentSchema, 'Started'), 200: json(PaymentSchema, 'This key’s payment, as it stands') },
})

const show = defineRoute({
  method: 'get',
  path: '/api/v1/terminal-payments/{id}',
  tags,
  summary: 'A terminal payment, its outcome read from the vendor while it is pending',
  access: 'devices.use',
  upstream: 'The terminal’s vendor (Stripe)',
  request: { params: IdParam },
  responses: { 200: json(PaymentSchema) },
})

const cancel = defineRoute({
  method: 'post',
  path: '/api/v1/terminal-payments/{id}/cancel',
  tags,
  summary: 'Ask the terminal to stop collecting',
  description:
    'A request, not a guarantee: if the customer paid a moment before, the answer is approved. While the start is still creating the payment at the vendor the answer is cancel_requested: the start then cancels it instead of sending it to the terminal, and it ends canceled (follow it at GET /api/v1/terminal-payments/{id}).',
  access: 'devices.use',
  upstream: 'The terminal’s vendor (Stripe)',
  transaction: false,
  request: { params: IdParam },
  responses: { 200: json(PaymentSchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(start, async (c) => {
    const key = c.req.header('idempotency-key')
    if (!key) throw badRequest('idempotency_key_required', 'send an Idempotency-Key header: one per tender attempt, so a repeat never charges twice')
    checkIdempotencyKey(key)
    const deviceId = c.req.valid('param').id
    const body = c.req.valid('json')
    const db = c.var.hub.database.db
    const currency = (body.currency ?? (await getMerchant(db, c.var.principal.merchantId)).currency).toUpperCase()
    const creds = await credentials(c, deviceId)
    try {
      const { payment, created } = await startTerminalPayment(db, c.var.principal, { deviceId, amount: body.amount, currency, reference: body.reference, idempotencyKey: key }, creds)
      return c.json(toPayment(payment), created ? 201 : 200)
    } catch (e) {
      throw vendorFailure(e)
    }
  })
  app.openapi(show, async (c) => {
    const db = c.var.hub.database.db
    const payment = await getTerminalPayment(db, c.var.principal.merchantId, c.req.valid('param').id)
    try {
      return c.json(toPayment(await refreshTerminalPayment(db, c.var.principal.merchantId, payment.id, await credentials(c, payment.deviceId))), 200)
    } catch (e) {
      throw vendorFailure(e)
    }
  })
  app.openapi(cancel, async (c) => {
    const db = c.var.hub.database.db
    const payment = await getTerminalPayment(db, c.var.principal.merchantId, c.req.valid('param').id)
    try {
      return c.json(toPayment(await cancelTerminalPayment(db, c.var.principal, payment.id, await credentials(c, payment.deviceId))), 200)
    } catch (e) {
      throw vendorFailure(e)
    }
  })
}
