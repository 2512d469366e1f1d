// A Stripe simulator for msw: bearer secret-key auth, Stripe's error envelope, the balance object.
// https://docs.stripe.com/api/errors, https://docs.stripe.com/api/balance/balance_object
import { http, HttpResponse } from 'msw'

export interface StripeSandboxOptions {
  baseUrl?: string
  secretKey: string
  livemode?: boolean
}

const stripeError = (status: number, type: string, message: string, code?: string) =>
  HttpResponse.json({ error: { type, message, ...(code ? { code } : {}), request_log_url: 'https://dashboard.stripe.com/test/logs/req_sim' } }, { status, headers: { 'request-id': `req_${Math.random().toString(36).slice(2, 16)}` } })

export function stripeSandbox(opts: StripeSandboxOptions) {
  const base = opts.baseUrl ?? 'https://api.stripe.com'
  const state = { requests: [] as { method: string; path: string; authorization: string | null; version: string | null }[], down: false }
  const authorised = (req: Request) => {
    const auth = req.headers.get('authorization')
    state.requests.push({ method: req.method, path: new URL(req.url).pathname, authorization: auth, version: req.headers.get('stripe-version') })
    if (auth !== `Bearer ${opts.secretKey}`) {
      const shown = auth?.replace(/^Bearer\s+/, '') ?? ''
      return stripeError(401, 'invalid_request_error', `Invalid API Key provided: ${shown.slice(0, 8)}${'*'.repeat(Math.max(0, shown.length - 12))}${shown.slice(-4)}`)
    }
    return null
  }
  const handlers = [
    http.get(`${base}/v1/balance`, ({ request }) => {
      if (state.down) return stripeError(500, 'api_error', 'An unknown error occurred')
      const refused = authorised(request)
      if (refused) return refused
      return HttpResponse.json({
        object: 'balance',
        livemode: opts.livemode ?? false,
        available: [{ amount: 1520, currency: 'usd', source_types: { card: 1520 } }],
        pending: [{ amount: 0, currency: 'usd', source_types: { card: 0 } }],
      })
    }),
  ]
  return { handlers, state }
}
