// PostgreSQL error codes, read through the wrapping drizzle adds (DrizzleQueryError keeps the driver error as cause).

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
