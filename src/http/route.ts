// Every API route is declared through defineRoute: its zod schemas validate the request and describe it in the
// OpenAPI document, and its `access` (a permission, 'authenticated' or 'public') is enforced before it runs.
// Mutating routes run in one database transaction that also holds their Idempotency-Key record.
import { createRoute, z, type RouteConfig } from '@hono/zod-openapi'
import { uuid } from './schemas.ts'
import { pipeline, Readable, Transform } from 'node:stream'
import type { Context, MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { bodyLimit } from 'hono/body-limit'
import { PERMISSIONS, type Access, type Permission } from '../core/staff/permissions.ts'
import type { AppEnv } from './env.ts'
import { guard } from './middleware/guard.ts'
import { unitOfWork } from './middleware/unit-of-work.ts'
import { payloadTooLarge } from './middleware/request-context.ts'

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error')

export const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ErrorSchema } } })

const MUTATING = new Set(['post', 'put', 'patch', 'delete'])

/** Largest JSON body accepted by routes that do not declare their own limit. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

export type RouteDefinition<R extends RouteConfig> = R & {
  access: Access
  /** Mutating routes run in a transaction with Idempotency-Key support unless this is false (e.g. login). */
  transaction?: boolean
  /** Largest request body in bytes, for routes that take files. */
  bodyLimit?: number
  /**
   * The handler reads the body as a stream (`limitedBody`), which holds it to `bodyLimit` as it is read: a body of
   * declared size over the limit is refused up front, and a chunked one is not read into memory first.
   */
  streamsBody?: boolean
  /** The route calls a third party and answers 502 when it fails: who it is, for the document. */
  upstream?: string
}

export function defineRoute<const R extends Omit<RouteConfig, 'middleware' | 'security'>>(def: RouteDefinition<R>): R & { middleware: MiddlewareHandler<AppEnv>[] } {
  const { access, transaction, bodyLimit: limit, streamsBody, upstream, ...route } = def
  const mutating = MUTATING.has(route.method)
  const middleware: MiddlewareHandler<AppEnv>[] = [guard(access)]
  if (mutating) {
    const maxSize = limit ?? DEFAULT_BODY_LIMIT
    middleware.unshift(streamsBody ? declaredSizeLimit(maxSize) : (bodyLimit({ maxSize, onError: payloadTooLarge(maxSize) }) as MiddlewareHandler<AppEnv>))
  }
  if (mutating && transaction !== false) middleware.push(unitOfWork({ perCaller: access === 'authenticated' }))

  const needs = (p: Permission) => `\`${p}\` (${PERMISSIONS[p]})`
  const who =
    access === 'public'
      ? 'No credentials needed.'
      : access === 'authenticated'
        ? 'Any signed-in caller.'
        : typeof access === 'string'
          ? `Needs permission ${needs(access)}.`
          : `Needs permission ${access.map(needs).join(' or ')}.`
  const idem = mutating && transaction !== false && access !== 'public' ? ' Accepts an `Idempotency-Key` header.' : ''
  const request = route.request?.body ? { ...route.request, body: { ...route.request.body, required: true } } : route.request

  return createRoute({
    ...route,
    request,
    description: [route.description, `${who}${idem}`].filter(Boolean).join('\n\n'),
    security: access === 'public' ? [] : [{ bearerAuth: [] }],
    'x-permission': access,
    middleware,
    // The route's own answers last: where it says more of a status (its own 503, a 404 of what it looks up), it wins.
    responses: {
      400: errorResponse('The request is malformed or fails validation'),
      ...(access !== 'public' ? { 401: errorResponse('Credentials are missing or invalid'), 403: errorResponse('The caller lacks the permission') } : {}),
      ...(route.path.includes('{') || route.request?.body || route.request?.query
        ? { 404: errorResponse(`What the ${names(route)} names does not exist (or belongs to another merchant)`) }
        : {}),
      ...(route.request?.body ? { 413: errorResponse('The request body is over the size limit'), 415: errorResponse('The body is not of a media type the route reads') } : {}),
      ...(mutating ? { 409: errorResponse('Conflicts with the current state'), 422: errorResponse('Breaks a business rule, or reuses an Idempotency-Key with another body') } : {}),
      ...(!mutating && route.request?.query ? { 422: errorResponse('The query breaks a rule of the route: a period backwards or longer than allowed, a search without a term') } : {}),
      ...(upstream ? { 502: errorResponse(`${upstream} failed or could not be reached`) } : {}),
      503: errorResponse('The database cannot be reached just now: retry after the `Retry-After` seconds (a write with the same Idempotency-Key)'),
      ...route.responses,
    },
  } as unknown as R & { middleware: MiddlewareHandler<AppEnv>[] })
}

/** What a route's 404 may be about: its path ids, its body's, its query's. */
function names(route: Omit<RouteConfig, 'middleware' | 'security'>): string {
  const parts = [route.path.includes('{') && 'path', route.request?.body && 'body', route.request?.query && 'query'].filter((p): p is string => Boolean(p))
  return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} or ${parts.at(-1)}` : parts[0]!
}

/** Query parameters of cursor-paginated lists. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: 'Items per page (1–200)' }),
  cursor: z.string().max(200).optional().openapi({ description: 'The `nextCursor` of the previous page' }),
})

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() })

export const IdParam = z.object({ id: uuid({ error: 'must be a UUID' }).openapi({ param: { name: 'id', in: 'path' } }) })

type Undefaulted<T extends z.ZodRawShape> = { [K in keyof T]: T[K] extends z.ZodDefault<infer I> ? I : T[K] }

/**
 * The body of a change (PATCH) from the body that creates: every field optional and none defaulted, so a field the
 * change leaves out keeps its value (zod still fills in the default of an optional field).
 */
export function changesOf<T extends z.ZodRawShape>(body: z.ZodObject<T>) {
  const shape = Object.fromEntries(Object.entries(body.shape).map(([k, v]) => [k, v instanceof z.ZodDefault ? v.unwrap() : v]))
  return z.object(shape as Undefaulted<T>).partial().strict()
}

export const json = <T extends z.ZodType>(schema: T, description = 'OK') => ({ description, content: { 'application/json': { schema } } })
export const jsonBody = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } })

/** Refuses a body whose declared size is over the limit; a chunked body is held to it by `limitedBody` as it is read. */
function declaredSizeLimit(maxSize: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const declared = c.req.header('content-length')
    if (declared !== undefined && !c.req.header('transfer-encoding') && Number(declared) > maxSize) return payloadTooLarge(maxSize)(c)
    await next()
  }
}

/** The request body as a stream that fails with 413 once more than `limit` bytes have come. */
export function limitedBody(c: Context<AppEnv>, limit: number): Readable {
  const body = c.req.raw.body
  let size = 0
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length
      if (size > limit) done(new HTTPException(413, { message: `the request body is larger than ${limit} bytes` }))
      else done(null, chunk)
    },
  })
  // pipeline passes a failure of the body itself (the client gone) on to what is read.
  return pipeline(body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream) : Readable.from([]), counted, () => {})
}
