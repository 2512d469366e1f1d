// Stripe (https://docs.stripe.com/api): secret-key bearer auth, form-encoded writes with Idempotency-Key, integer
// minor units, cursor pagination (`starting_after`), 429 on rate limits. Settlement comes from the balance
// transactions of a business day (balance.ts), or from an itemized report CSV uploaded by hand (report.ts).
import { z } from 'zod'
import { ConnectorError } from '../../framework/http-types.ts'
import { defineConnector, secret } from '../../framework/define.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { parseStripeEvent, verifyStripeSignature } from './webhook.ts'
import { DEFAULT_REF_KEYS, fetchStripeBalance, parseStripeBalance, STRIPE_BALANCE_FORMAT } from './balance.ts'
import { parseStripeItemized, STRIPE_ITEMIZED_FORMAT } from './report.ts'

export const STRIPE_API = 'https://api.stripe.com'
/** The API version every request pins, so a change on Stripe's side never changes what we parse. */
export const STRIPE_VERSION = '2025-09-30.clover'

/** Stripe metadata keys: up to 40 characters, no square brackets (the itemized report names them payment_metadata[key]). */
const refKeys = (defaults: string[]) =>
  z
    .array(z.string().trim().min(1).max(40).regex(/^[^\[\]]+$/, 'a metadata key has no square brackets'))
    .min(1)
    .max(5)
    .refine((keys) => new Set(keys).size === keys.length, 'each key once')
    .default(defaults)

const StripeConfig = z.object({
  secretKey: secret(z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/, 'a Stripe secret key looks like sk_live_… or rk_live_…')),
  webhookSecret: secret(z.string().startsWith('whsec_', 'a Stripe webhook signing secret starts with whsec_')).optional(),
  baseUrl: z.url().default(STRIPE_API).describe('Only changed for a sandbox'),
  paymentRefKeys: refKeys(DEFAULT_REF_KEYS.payment).describe('Metadata keys of a charge or PaymentIntent that carry our payment number, first found wins'),
  refundRefKeys: refKeys(DEFAULT_REF_KEYS.refund).describe('Metadata keys of a refund that carry our refund number, first found wins'),
})

interface StripeBalance {
  object: 'balance'
  livemode: boolean
  available: { amount: number; currency: string }[]
}

export const stripe = defineConnector({
  id: 'stripe',
  family: 'payment',
  title: 'Stripe',
  description: 'Card and wallet payments through Stripe: balance transactions, payouts and their fees.',
  config: StripeConfig,
  http: (config) => ({
    baseURL: config.baseUrl,
    headers: { authorization: `Bearer ${config.secretKey}`, 'stripe-version': STRIPE_VERSION },
    timeoutMs: 20_000,
    // Stripe allows 100 read requests per second in live mode, 25 in test mode.
    rateLimit: { perSecond: 25, burst: 25 },
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
  }),
  webhook: {
    verify: (req, config, now) => verifyStripeSignature(req, config.webhookSecret, now),
    parse: parseStripeEvent,
  },
  async check(ctx) {
    try {
      const res = await ctx.http.request<StripeBalance>({ method: 'GET', url: '/v1/balance', operation: 'check' })
      const currencies = res.data.available.map((a) => a.currency.toUpperCase()).join(', ')
      return { ok: true, message: `Connected to Stripe (${res.data.livemode ? 'live' : 'test'} mode; balance in ${currencies || 'no currency yet'})`, details: { livemode: res.data.livemode } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: 'Stripe refused the secret key: check that it is current and has read access to the balance' }
      if (e instanceof ConnectorError) return { ok: false, message: `Stripe could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    fetchStatement: (ctx, input) => fetchStripeBalance(ctx, input),
    parseStatement({ format, content, businessDate, timeZone }, config) {
      // A connection saved before it could name its keys has none stored: the defaults.
      const keys = { payment: config.paymentRefKeys ?? DEFAULT_REF_KEYS.payment, refund: config.refundRefKeys ?? DEFAULT_REF_KEYS.refund }
      if (format === STRIPE_BALANCE_FORMAT) return parseStripeBalance(content, keys)
      if (format === STRIPE_ITEMIZED_FORMAT) return parseStripeItemized(content, { businessDate, timeZone, keys })
      throw new StatementFormatError(`the Stripe connector reads formats "${STRIPE_BALANCE_FORMAT}" and "${STRIPE_ITEMIZED_FORMAT}", not "${format}"`)
    },
  },
})
