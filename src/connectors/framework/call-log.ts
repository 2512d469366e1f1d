// The call log: one redacted `connector_calls` row per attempt of a vendor call, so an integrator can see what the
// hub sent and what came back without any credential ever being stored. Kept for CALL_RETENTION_DAYS.
import { and, desc, eq, inArray, lt } from 'drizzle-orm'
import type { Database, Tx } from '../../db/client.ts'
import type { Logger } from '../../lib/logger.ts'
import { countConnectorCall, metricsFor } from '../../lib/metrics.ts'
import { isSecretKey, redact, redactText, REDACTED } from '../../lib/redact.ts'
import type { ErrorKind } from './http-types.ts'
import { connectorCalls } from './schema.ts'

export type CallOutcome = 'ok' | ErrorKind
export type CallRow = typeof connectorCalls.$inferSelect

/** Days a call stays in the log before the daily maintenance purge removes it. */
export const CALL_RETENTION_DAYS = 30
/** Longest request or response excerpt kept, in characters. */
export const EXCERPT_LIMIT = 2048

/** Header names never written, whatever their value (credentials and session state). */
const DROPPED_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'x-auth-token'])

/** A redactor bound to one connection's secret values (values shorter than 4 characters are ignored). */
export interface Redactor {
  text(value: string): string
  url(url: string): string
  headers(headers: Record<string, unknown> | undefined): Record<string, string>
  /** A body (JSON value, string, bytes) as a redacted excerpt of at most EXCERPT_LIMIT characters. */
  excerpt(parts: { headers?: Record<string, unknown>; body?: unknown }): string | null
}

export function createRedactor(secretValues: readonly string[]): Redactor {
  const values = [...new Set(secretValues.filter((v) => typeof v === 'string' && v.length >= 4))]
  // Encoded forms too: a secret may travel in a query string or a form body.
  const forms = [...new Set(values.flatMap((v) => [v, encodeURIComponent(v), new URLSearchParams({ v }).toString().slice(2)]))].sort((a, b) => b.length - a.length)

  const text = (value: string): string => {
    let out = value
    for (const f of forms) if (out.includes(f)) out = out.split(f).join(REDACTED)
    // Secret-named XML elements (`<sign>…</sign>`, `<api_key>…</api_key>`), then bearer tokens and `secret=` pairs.
    out = out.replace(/<([A-Za-z_][\w.-]*)>([^<]*)<\/\1>/g, (m, tag: string) => (isSecretKey(tag) ? `<${tag}>${REDACTED}</${tag}>` : m))
    return redactText(out)
  }

  const url = (raw: string): string => {
    const q = raw.indexOf('?')
    if (q < 0) return text(raw)
    const hash = raw.indexOf('#', q)
    const query = raw.slice(q + 1, hash < 0 ? undefined : hash)
    const pairs = query
      .split('&')
      .filter(Boolean)
      .map((pair) => {
        const eq = pair.indexOf('=')
        const name = eq < 0 ? pair : pair.slice(0, eq)
        let decoded = name
        try {
          decoded = decodeURIComponent(name.replace(/\+/g, ' '))
        } catch {
          // a malformed escape stays as sent
        }
        return eq >= 0 && isSecretKey(decoded) ? `${name}=${REDACTED}` : pair
      })
    return text(`${raw.slice(0, q)}?${pairs.join('&')}`)
  }

  const headers = (h: Record<string, unknown> | undefined): Record<string, string> => {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(h ?? {})) {
      if (v === undefined || v === null) continue
      const name = k.toLowerCase()
      if (DROPPED_HEADERS.has(name)) continue
      out[name] = isSecretKey(name) ? REDACTED : text(Array.isArray(v) ? v.join(', ') : String(v))
    }
    return out
  }

  const body = (b: unknown): unknown => {
    if (b === undefined || b === null) return undefined
    if (Buffer.isBuffer(b) || b instanceof ArrayBuffer || ArrayBuffer.isView(b)) return `[${(b as { byteLength: number }).byteLength} bytes]`
    if (b instanceof URLSearchParams) return url(`?${b.toString()}`).slice(1)
    if (typeof b === 'string') {
      // Huge bodies are cut before masking; a secret cut at 256 KB cannot reach the first 2 KB kept.
      const s = b.length > 262_144 ? b.slice(0, 262_144) : b
      const trimmed = s.trimStart()
      if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
        try {
          return maskStrings(redact(JSON.parse(s)))
        } catch {
          // not JSON after all: masked as text below
        }
      }
      // A form-encoded body is a query string: secret-named fields are masked like URL parameters.
      if (/^[\w.%[\]-]+=[^\s&]*(&[\w.%[\]-]+=[^\s&]*)*$/.test(s)) return url(`?${s}`).slice(1)
      return text(s)
    }
    return maskStrings(redact(b))
  }

  // Secret values echoed under innocent names ({"note":"sk_live_…"}) are masked before serialising, where escaping
  // could otherwise hide them from the text pass.
  const maskStrings = (v: unknown, depth = 0): unknown => {
    if (typeof v === 'string') return text(v)
    if (depth > 12 || v === null || typeof v !== 'object') return v
    if (Array.isArray(v)) return v.map((x) => maskStrings(x, depth + 1))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskStrings(x, depth + 1)]))
  }

  const excerpt = (parts: { headers?: Record<string, unknown>; body?: unknown }): string | null => {
    const hs = parts.headers ? headers(parts.headers) : undefined
    const b = body(parts.body)
    if ((!hs || Object.keys(hs).length === 0) && b === undefined) return null
    const serialized = JSON.stringify({ ...(hs && Object.keys(hs).length ? { headers: hs } : {}), ...(b !== undefined ? { body: b } : {}) })
    const masked = text(serialized)
    return masked.length > EXCERPT_LIMIT ? `${masked.slice(0, EXCERPT_LIMIT - 12)}…[truncated]` : masked
  }

  return { text, url, headers, excerpt }
}

export interface CallRecord {
  merchantId: string
  connectionId: string
  operation?: string
  method: string
  /** Already redacted. */
  url: string
  attempt: number
  statusCode?: number
  outcome: CallOutcome
  durationMs: number
  requestExcerpt?: string | null
  responseExcerpt?: string | null
  /** Already redacted. */
  error?: string
  at: Date
}

/**
 * Writes one row on the hub's own pool, outside any transaction of the caller, so the log of a call survives the
 * rollback of the work that made it. A failed write is logged and swallowed: the log never fails the call.
 * Each attempt is also counted for /metrics (tillbridge_connector_calls_total), whether or not its row is written.
 */
export async function recordCall(database: Database, logger: Logger, call: CallRecord): Promise<void> {
  countConnectorCall(metricsFor(database), call.connectionId, call.outcome)
  try {
    await database.db.insert(connectorCalls).values({
      merchantId: call.merchantId,
      connectionId: call.connectionId,
      operation: call.operation ?? null,
      method: call.method,
      url: call.url.slice(0, 4000),
      attempt: call.attempt,
      statusCode: call.statusCode ?? null,
      outcome: call.outcome,
      durationMs: Math.max(0, Math.round(call.durationMs)),
      requestExcerpt: call.requestExcerpt ?? null,
      responseExcerpt: call.responseExcerpt ?? null,
      error: call.error?.slice(0, 2000) ?? null,
      createdAt: call.at,
    })
  } catch (err) {
    logger.warn({ err, connectionId: call.connectionId, operation: call.operation }, 'could not write the connector call log')
  }
}

export interface ListCallsInput {
  merchantId: string
  connectionId: string
  outcome?: CallOutcome
  limit: number
  /** The `nextCursor` of the previous page: the id of its last row. */
  cursor?: string
}

/** Calls of one connection, newest first. */
export async function listCalls(tx: Tx, input: ListCallsInput): Promise<{ items: CallRow[]; nextCursor: string | null }> {
  const before = input.cursor === undefined ? undefined : Number(input.cursor)
  const rows = await tx
    .select()
    .from(connectorCalls)
    .where(
      and(
        eq(connectorCalls.merchantId, input.merchantId),
        eq(connectorCalls.connectionId, input.connectionId),
        input.outcome ? eq(connectorCalls.outcome, input.outcome) : undefined,
        before !== undefined && Number.isSafeInteger(before) ? lt(connectorCalls.id, before) : undefined,
      ),
    )
    .orderBy(desc(connectorCalls.id))
    .limit(input.limit + 1)
  const items = rows.slice(0, input.limit)
  return { items, nextCursor: rows.length > input.limit ? String(items[items.length - 1]!.id) : null }
}

/** Deletes calls logged before `olderThan`, in batches so a large backlog never holds one long lock. */
export async function purgeCalls(db: Tx, olderThan: Date, batchSize = 5000): Promise<number> {
  let total = 0
  for (;;) {
    const doomed = db
      .select({ id: connectorCalls.id })
      .from(connectorCalls)
      .where(lt(connectorCalls.createdAt, olderThan))
      .limit(batchSize)
    const gone = await db.delete(connectorCalls).where(inArray(connectorCalls.id, doomed)).returning({ id: connectorCalls.id })
    total += gone.length
    if (gone.length < batchSize) return total
  }
}
