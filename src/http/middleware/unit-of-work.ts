// Runs a mutating request as one transaction, so it either takes full effect or none (an error response rolls
// everything back), and stores its response under the caller's Idempotency-Key in that same transaction.
//
// Same key, same body: the stored response is replayed (Idempotent-Replayed: true). Same key, other body: 422.
// A duplicate sent while the first is still running waits on the first's uncommitted key row (the unique index
// makes it wait) and then replays its result; if the first fails, its key row vanishes with its rollback and the
// duplicate runs instead. Only successful responses are stored, so a failed request may be retried with its key.
//
// A key is the merchant's, as Stripe's are the account's, whoever sends it: a till retrying a sale after its cashier
// changed (signed in again as someone else) gets the sale it already made, never a second one. A key lives 24 hours;
// past that it is free again even before the nightly purge removes it.
//
// A response that shows a secret once (an API key, a webhook signing secret; the route says so with
// `secretShownOnce`) is stored sealed with the hub's secret key, as every stored secret is, and replayed only to the
// caller who made the request: another caller with the same key gets 409 rather than the secret. So is the answer of
// a route open to any signed-in caller (`perCaller`: their profile, their PIN, their own request withdrawn), which is
// about its caller: another's key would give them someone else's record and leave their own change unmade.
import { createHash } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { and, eq, lte, sql } from 'drizzle-orm'
import { idempotencyKeys } from '../../db/infra-schema.ts'
import { pgError } from '../../db/errors.ts'
import { badRequest, conflict, invalid } from '../../lib/errors.ts'
import type { SecretBox } from '../../lib/secrets.ts'
import type { AppEnv } from '../env.ts'

const KEY = /^[\x21-\x7e]{1,255}$/
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000
/** How long a duplicate waits for the first request with its key before answering 409. */
const WAIT_FOR_FIRST = '15s'

class Rollback extends Error {}

/** How a sealed response body starts (a JSON body starts with `{`). */
const SEALED = 'v1:'

function unseal(secrets: SecretBox, body: string): string {
  try {
    return secrets.decrypt(body)
  } catch {
    throw conflict('idempotency_key_unreadable', 'the stored answer of this Idempotency-Key was sealed with a secret key the hub no longer holds; send the request with a new key')
  }
}

/** Hash of what makes two requests "the same": method, path with query, and body (JSON compared by value, not by key order). */
function requestHash(method: string, path: string, body: Uint8Array): string {
  let canonical: string | Uint8Array = body
  try {
    canonical = JSON.stringify(sortKeys(JSON.parse(new TextDecoder().decode(body))))
  } catch {
    // not JSON: compare the bytes
  }
  return createHash('sha256').update(`${method} ${path}\n`).update(canonical).digest('hex')
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
  return v
}

/** An Idempotency-Key as every route takes it (routes that keep their own keys check them with this too). */
export function checkIdempotencyKey(key: string): string {
  if (!KEY.test(key)) throw badRequest('invalid_idempotency_key', 'Idempotency-Key must be 1–255 visible ASCII characters')
  return key
}

/** Statuses whose response has no body (a Response with one cannot be made). */
const NO_BODY = new Set([204, 205, 304])

export function unitOfWork(opts: { perCaller?: boolean } = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key')
    const principal = c.get('principal')
    if (key !== undefined) checkIdempotencyKey(key)
    const scoped = key !== undefined && principal !== undefined
    // Read as bytes: Hono rebuilds later reads from the first one, and a text read would re-encode a binary upload.
    const hash = scoped ? requestHash(c.req.method, c.req.path + new URL(c.req.url).search, new Uint8Array(await c.req.arrayBuffer())) : ''
    let replay: Response | undefined
    const thisKey = scoped ? and(eq(idempotencyKeys.merchantId, principal.merchantId), eq(idempotencyKeys.key, key)) : undefined

    try {
      await c.var.hub.database.db.transaction(async (tx) => {
        c.set('db', tx)
        if (scoped) {
          await tx.execute(sql.raw(`set local lock_timeout = '${WAIT_FOR_FIRST}'`))
          const now = c.var.hub.clock()
          const claim = {
            method: c.req.method,
            path: c.req.path,
            requestHash: hash,
            statusCode: 0,
            responseBody: '',
            responseHeaders: {},
            principalId: principal.id,
            createdAt: now,
            expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS),
          }
          let claimed = await tx
            .insert(idempotencyKeys)
            .values({ merchantId: principal.merchantId, key, ...claim })
            .onConflictDoNothing()
            .returning({ key: idempotencyKeys.key })
          // A key past its lifetime that the nightly purge has not removed yet is free: this request takes it over.
          if (claimed.length === 0) {
            claimed = await tx
              .update(idempotencyKeys)
              .set(claim)
              .where(and(thisKey, lte(idempotencyKeys.expiresAt, now)))
              .returning({ key: idempotencyKeys.key })
          }
          // Back to the connection's own lock_timeout (the operator's), not none: the rest of the request answers 409
          // busy at a held row as a request without a key does.
          await tx.execute(sql`set local lock_timeout to default`)
          if (claimed.length === 0) {
            const [prior] = await tx.select().from(idempotencyKeys).where(thisKey)
            if (!prior) throw conflict('idempotency_key_in_use', 'a request with this Idempotency-Key is being processed; retry shortly')
            if (prior.requestHash !== hash) {
              throw invalid('idempotency_key_reused', 'this Idempotency-Key was used for a different request', { method: prior.method, path: prior.path })
            }
            const sealed = prior.responseBody.startsWith(SEALED)
            if ((sealed || opts.perCaller) && prior.principalId !== principal.id) {
              const whose = sealed ? 'shows a secret once' : 'is about its caller'
              throw conflict('idempotency_key_not_yours', `this Idempotency-Key was used by another caller for a request whose answer ${whose}; use a key of your own`)
            }
            const body = NO_BODY.has(prior.statusCode) ? null : sealed ? unseal(c.var.hub.secrets, prior.responseBody) : prior.responseBody
            replay = new Response(body, {
              status: prior.statusCode,
              headers: { ...prior.responseHeaders, 'Idempotent-Replayed': 'true' },
            })
            throw new Rollback()
          }
        }
        await next()
        if (c.error || c.res.status >= 400) throw new Rollback()
        if (scoped) {
          const text = await c.res.clone().text()
          const responseBody = c.get('secretShownOnce') ? c.var.hub.secrets.encrypt(text) : text
          const headers: Record<string, string> = {}
          const type = c.res.headers.get('content-type')
          if (type) headers['content-type'] = type
          await tx
            .update(idempotencyKeys)
            .set({ statusCode: c.res.status, responseBody, responseHeaders: headers })
            .where(thisKey)
        }
      })
    } catch (e) {
      if (!(e instanceof Rollback)) {
        if (pgError(e)?.code === '55P03') {
          throw conflict('idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed; retry shortly')
        }
        throw e
      }
    } finally {
      c.set('db', c.var.hub.database.db)
    }
    if (replay) c.res = replay
  }
}
