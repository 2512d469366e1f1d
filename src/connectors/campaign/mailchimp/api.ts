// Mailchimp Marketing API 3.0 plumbing: the data center taken from the API key, basic auth, Mailchimp's problem
// documents ({type, title, status, detail, instance}) classified for the shared client, and the concurrency cap.
// Mailchimp limits an account by simultaneous connections (10), not by a quota, and sends no rate headers: past the
// cap it answers 429, and under heavy load sometimes a bare 403 without a JSON body, which is throttling too.
// https://mailchimp.com/developer/marketing/docs/fundamentals/#api-limits, https://mailchimp.com/developer/marketing/docs/errors/
import { createHash } from 'node:crypto'
import type { ConnectorContext } from '../../framework/define.ts'
import type { Classified, HttpPolicy, HttpRequest, HttpResponse } from '../../framework/http-types.ts'

/** Simultaneous connections Mailchimp allows one account. */
export const MAILCHIMP_MAX_CONCURRENT = 10

/** `0123…cdef-us21` → `us21`; null when the key carries no data center. */
export function dataCenterOf(apiKey: string): string | null {
  const m = /-([a-z]+\d+)$/i.exec(apiKey.trim())
  return m ? m[1]!.toLowerCase() : null
}

export const mailchimpBaseUrl = (apiKey: string): string => `https://${dataCenterOf(apiKey) ?? 'us1'}.api.mailchimp.com/3.0`

/** A member's id in a list: the MD5 of the lower-cased address. */
export const subscriberHash = (email: string): string => createHash('md5').update(email.trim().toLowerCase()).digest('hex')

interface Problem {
  title?: string
  detail?: string
  status?: number
}

const problemOf = (data: unknown): Problem | null => (data && typeof data === 'object' && !Array.isArray(data) ? (data as Problem) : null)

/** Mailchimp errors are problem documents: the title names the error, the detail explains it. */
export function classifyMailchimp(res: { status: number; data: unknown }): Classified | undefined {
  if (res.status < 400) return undefined
  const p = problemOf(res.data)
  const vendorCode = p?.title
  const message = p?.detail
  if (res.status === 429) return { kind: 'rate_limited', vendorCode: vendorCode ?? 'Too Many Requests', message }
  // "A bare 403 with no JSON body" is what Mailchimp answers past its limits under load; a real refusal has a title.
  if (res.status === 403 && !p?.title) return { kind: 'rate_limited', vendorCode: 'Forbidden', message: 'a bare 403 without a body (Mailchimp throttling under load)' }
  if (res.status === 401 || res.status === 403) return { kind: 'auth_failed', vendorCode, message }
  if (res.status === 408 || res.status >= 500) return { kind: 'retryable', vendorCode, message }
  return { kind: 'permanent', vendorCode, message }
}

export function mailchimpPolicy(config: { apiKey: string; baseUrl?: string }): HttpPolicy {
  return {
    baseURL: config.baseUrl ?? mailchimpBaseUrl(config.apiKey),
    // Basic auth with any user name and the key as the password.
    headers: { authorization: `Basic ${Buffer.from(`tillbridge:${config.apiKey}`).toString('base64')}`, accept: 'application/json', 'content-type': 'application/json' },
    timeoutMs: 30_000,
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: classifyMailchimp,
  }
}

// ---- the concurrency cap ---------------------------------------------------------------------------------------

interface Gate {
  active: number
  waiting: (() => void)[]
}

const gates = new Map<string, Gate>()

/** Runs `fn` once fewer than `limit` calls of this connection are in flight in this process. */
async function withSlot<T>(key: string, limit: number, fn: () => Promise<T>): Promise<T> {
  let gate = gates.get(key)
  if (!gate) gates.set(key, (gate = { active: 0, waiting: [] }))
  const g = gate
  if (g.active >= limit) await new Promise<void>((resolve) => g.waiting.push(resolve))
  else g.active++
  try {
    return await fn()
  } finally {
    // The slot passes straight to the next waiter, so `active` never drops below what is running.
    const next = g.waiting.shift()
    if (next) next()
    else if (--g.active === 0) gates.delete(key)
  }
}

/** Every Mailchimp call goes through here: at most MAILCHIMP_MAX_CONCURRENT at once per connection. */
export function mailchimpRequest<T>(ctx: ConnectorContext<unknown>, req: HttpRequest): Promise<HttpResponse<T>> {
  return withSlot(ctx.connectionId, MAILCHIMP_MAX_CONCURRENT, () => ctx.http.request<T>({ signal: ctx.signal, ...req }))
}
