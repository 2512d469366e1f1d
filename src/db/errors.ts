// PostgreSQL error codes, read through the wrapping drizzle adds (DrizzleQueryError keeps the driver error as cause).
import { badRequest, conflict, DomainError, invalid, unavailable } from '../lib/errors.ts'
import { MoneyError } from '../lib/money.ts'

export interface PgError {
  code: string
  message: string
  constraint?: string
  detail?: string
}

export function pgError(e: unknown): PgError | undefined {
  let cur: unknown = e
  for (let depth = 0; cur && depth < 5; depth++) {
    const c = cur as { code?: unknown; cause?: unknown }
    if (typeof c.code === 'string' && /^[0-9A-Z]{5}$/.test(c.code)) return cur as PgError
    cur = c.cause
  }
  return undefined
}

export const isUniqueViolation = (e: unknown, constraint?: string) => {
  const p = pgError(e)
  return p?.code === '23505' && (constraint === undefined || p.constraint === constraint)
}

/** An error and the errors it wraps (drizzle keeps the driver's error, which keeps a row parser's, as cause). */
function causes(e: unknown): unknown[] {
  const out: unknown[] = []
  for (let cur = e, depth = 0; cur && depth < 5; depth++, cur = (cur as { cause?: unknown }).cause) out.push(cur)
  return out
}

/**
 * An error that is the request's fault though not thrown as a DomainError: a PostgreSQL constraint or value error,
 * or checked money arithmetic that overflowed. Returned as the DomainError it stands for; undefined for anything else
 * (a fault of ours or of the database).
 */
export function inputError(e: unknown): DomainError | undefined {
  if (e instanceof DomainError) return e
  if (causes(e).some((c) => c instanceof MoneyError)) return invalid('amount_out_of_range', 'the amounts in the request are too large to be counted exactly to the fen')
  const p = pgError(e)
  switch (p?.code) {
    case '23505':
      return conflict('duplicate', 'a record with the same unique value already exists', { constraint: p.constraint })
    case '23503':
      return invalid('reference_not_found', 'the request refers to a record that does not exist', { constraint: p.constraint })
    case '23514':
      return invalid('constraint_violated', 'the request breaks a rule of the data', { constraint: p.constraint })
    case '22P02':
    case '22003':
    case '22007':
    case '22008':
    case '22009':
    case '22021':
    case '22P05': // a NUL or half a surrogate pair in text kept as jsonb (a note in an audit entry, say)
      return badRequest('invalid_value', 'a value in the request is not valid for its field')
    case '40001':
    case '40P01':
      return conflict('concurrent_update', 'the record was changed by another request at the same time; retry')
    case '55P03':
      return conflict('busy', 'the record is locked by another request; retry')
    default:
      return undefined
  }
}

/** Socket errors of a connection that could not be made or was cut. */
const LOST_SOCKET = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/**
 * Messages of the driver and its pool for a connection that is gone or never came: they carry no code. A transaction
 * whose connection was cut fails again on its ROLLBACK with "not queryable", and that is the error drizzle throws.
 */
const LOST_MESSAGE = /Connection terminated|not queryable|timeout exceeded when trying to connect|Client was closed|Connection ended unexpectedly/

/**
 * The database itself unreachable or gone in the middle of the request (a restart, a failover, a cut connection,
 * no connection slot left): a 503 the caller retries, a write with the same Idempotency-Key. Undefined for anything
 * else. PostgreSQL's class 08 (connection exception), admin or crash shutdown (57P01, 57P02), a server still starting
 * (57P03) and too many connections (53300).
 */
export function databaseUnavailable(e: unknown): DomainError | undefined {
  const lost = causes(e).some((c) => {
    const x = c as { code?: unknown; message?: unknown }
    const code = typeof x.code === 'string' ? x.code : ''
    if (LOST_SOCKET.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true
    return !code && typeof x.message === 'string' && LOST_MESSAGE.test(x.message)
  })
  return lost ? unavailable('database_unavailable', 'the database cannot be reached just now; retry shortly (a write with the same Idempotency-Key)', 1) : undefined
}

/**
 * An error as a person reads it in a record's "last error": for a connection lost midway the cause, not the failed
 * ROLLBACK drizzle reports (`Failed query: rollback`); otherwise its own message.
 */
export function errorText(e: unknown): string {
  if (databaseUnavailable(e)) {
    const root = causes(e).findLast((c) => c instanceof Error && c.message.trim() !== '') as Error | undefined
    return `the database connection was lost (${root?.message.split('\n')[0] ?? 'no reason given'}); it is tried again`
  }
  return e instanceof Error ? e.message : String(e)
}
