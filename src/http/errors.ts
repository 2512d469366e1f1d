// The one place where errors become HTTP responses, all in the shape {"error":{"code","message","details"}}, with
// the message in the caller's language (the code never changes).
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ErrorKind } from '../lib/errors.ts'
import { redactText } from '../lib/redact.ts'
import { databaseUnavailable, inputError } from '../db/errors.ts'
import type { Locale } from '../lib/i18n/locale.ts'
import { localizeMessage, type MessageParams } from '../lib/i18n/messages.ts'
import type { AppEnv } from './env.ts'
import { messageContext } from './locale.ts'

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown }
}

export interface ErrorResponse {
  status: ContentfulStatusCode
  body: ErrorBody
  headers?: Record<string, string>
  /** What a localized message may name besides the details (seconds to wait, …). */
  params?: MessageParams
}

const STATUS: Record<ErrorKind, ContentfulStatusCode> = {
  bad_request: 400,
  invalid: 422,
  not_found: 404,
  conflict: 409,
  forbidden: 403,
  unauthorized: 401,
  rate_limited: 429,
  upstream: 502,
  unavailable: 503,
}

const HTTP_CODES: Partial<Record<number, [string, string]>> = {
  400: ['bad_request', 'the request is malformed'],
  401: ['unauthorized', 'credentials are missing or invalid'],
  404: ['not_found', 'not found'],
  405: ['method_not_allowed', 'method not allowed'],
  413: ['payload_too_large', 'the request body is too large'],
  415: ['unsupported_media_type', 'send the body as application/json'],
}

const body = (code: string, message: string, details?: unknown): ErrorBody => ({
  error: details === undefined ? { code, message } : { code, message, details },
})

export function toErrorResponse(err: unknown): ErrorResponse | undefined {
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode
    if (status === 400 && /json/i.test(err.message)) return { status, body: body('invalid_json', 'the request body is not valid JSON') }
    const [code, message] = HTTP_CODES[status] ?? [`http_${status}`, err.message]
    const details = (err.cause as { details?: unknown } | undefined)?.details
    return { status, body: body(code, err.message && status !== 400 ? err.message : message, details) }
  }
  // Domain errors, and PostgreSQL or money errors that reach here unhandled: they still describe a bad request. The
  // database gone in the middle of the request is a 503 to retry.
  const e = inputError(err) ?? databaseUnavailable(err)
  if (!e) return undefined
  const headers = e.retryAfter !== undefined ? { 'Retry-After': String(e.retryAfter) } : undefined
  return { status: STATUS[e.kind], body: body(e.code, e.message, e.details), headers, params: e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : undefined }
}

export const internalError = (requestId: string): ErrorResponse => ({
  status: 500,
  body: body('internal_error', `something went wrong on our side; quote request id ${requestId} when reporting it`),
})

export const errorBody = body

/** 415 for a route that reads something other than JSON: `expected` names what it reads, in the message and details. */
export const unsupportedMediaType = (expected: string, got: string) =>
  new HTTPException(415, { message: `send the file as ${expected} (got ${got || 'no Content-Type'})`, cause: { details: { expected, got } } })

export const safeMessage = (e: unknown) => redactText(e instanceof Error ? e.message : String(e))

/** `b` with its message in `locale`: named values come from its details (when an object) and `params`. */
export function localizeBody(b: ErrorBody, status: number, locale: Locale, params?: MessageParams, uncatalogued: 'explain' | 'keep' = 'explain'): ErrorBody {
  const details = b.error.details
  const fromDetails = details && typeof details === 'object' && !Array.isArray(details) ? (details as MessageParams) : {}
  const message = localizeMessage(locale, { code: b.error.code, english: b.error.message, status, params: { ...fromDetails, ...params }, uncatalogued })
  return { error: { ...b.error, message } }
}

/**
 * An error body in the language of the request's caller (see messageLocale). Their locale is read only when an
 * error is answered.
 */
export async function localized(c: Context<AppEnv>, b: ErrorBody, status: number, params?: MessageParams): Promise<ErrorBody> {
  const { locale, currency } = await messageContext(c)
  return localizeBody(b, status, locale, { ...params, ...(currency ? { currency } : {}) })
}
