// The public endpoint vendors deliver webhooks to: `POST /webhooks/{connectionId}`. It is not a JSON API route: the
// body is read as raw bytes (signatures are over the exact bytes), the caller proves itself by the vendor's
// signature instead of a bearer token, and the answer is the connector's acknowledgement. No Idempotency-Key: the
// vendor's event id makes redelivery harmless.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { HttpBindings } from '@hono/node-server'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { acceptInbound, answerChallenge, INBOUND_BODY_LIMIT } from '../../webhooks/inbound.ts'
import type { AppEnv } from '../env.ts'
import { payloadTooLarge } from '../middleware/request-context.ts'
import { errorResponse as error } from '../route.ts'

function document(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/webhooks/{connectionId}',
    tags: ['Webhooks'],
    summary: 'Receive a webhook from a connected vendor',
    description: [
      'The URL to give the vendor for a connection. The body is taken exactly as sent and verified with the',
      'connection’s webhook secret in the vendor’s own scheme (for Stripe the `Stripe-Signature` header). The event is',
      'stored once per vendor event id and processed in the background; a redelivery is acknowledged and not processed',
      `again. A disabled connection still stores events; they are processed once it is enabled. Bodies up to ${INBOUND_BODY_LIMIT / 1024 / 1024} MiB.`,
      '\n\nNo credentials needed: the vendor’s signature is the credential.',
    ].join(' '),
    security: [],
    'x-permission': 'public',
    request: {
      params: z.object({ connectionId: z.string().openapi({ param: { name: 'connectionId', in: 'path' }, description: 'The connection id' }) }),
      body: { description: 'The vendor’s payload, as the vendor sends it', content: { 'application/json': { schema: z.unknown() } } },
    },
    responses: {
      200: { description: 'Received (or received before); the body is the acknowledgement the vendor expects', content: { 'application/json': { schema: z.object({ received: z.literal(true) }) } } },
      400: error('The body is not an event of this vendor (invalid_payload)'),
      401: error('The signature is missing, expired or wrong (invalid_signature)'),
      404: error('No such connection, or its connector takes no webhooks'),
      413: error('The body is too large'),
      503: error('The database cannot be reached just now: nothing was stored, and the vendor sends the event again'),
    },
  } as Parameters<typeof app.openAPIRegistry.registerPath>[0])
}

/** Reads the raw body, or answers 'too_large' past `limit` bytes: a declared length is checked before reading, a chunked body while reading. */
async function readBody(c: Context<AppEnv>, limit: number): Promise<Buffer | 'too_large'> {
  const declared = c.req.header('content-length')
  if (declared !== undefined && !c.req.header('transfer-encoding')) {
    if (Number(declared) > limit) return 'too_large'
    // The HTTP parser holds the sender to the declared length; the server reads it straight from the socket.
    return Buffer.from(await c.req.arrayBuffer())
  }
  const body = c.req.raw.body
  if (!body) return Buffer.alloc(0)
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > limit) {
      await reader.cancel().catch(() => {})
      return 'too_large'
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, size)
}

/** Header names in lower case; on the Node server taken from the parsed request as is, which is cheaper than a Headers object. */
function headersOf(c: Context<AppEnv>): Record<string, string> {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming
  if (!incoming?.headers) return c.req.header()
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(incoming.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}

export function register(app: OpenAPIHono<AppEnv>) {
  document(app)
  const tooLarge = payloadTooLarge(INBOUND_BODY_LIMIT)
  app.post('/webhooks/:connectionId', async (c) => {
    const rawBody = await readBody(c, INBOUND_BODY_LIMIT)
    if (rawBody === 'too_large') return tooLarge(c)
    const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming
    const url = incoming?.url ?? c.req.path + new URL(c.req.url).search
    const result = await acceptInbound(c.var.hub, c.req.param('connectionId'), { rawBody, headers: headersOf(c), url }, { log: c.var.log })
    return c.body(result.ack.body, result.ack.status as ContentfulStatusCode, { 'content-type': result.ack.contentType })
  })
  // The vendor's check of the address when it is configured (WeChat echostr, Mailchimp validation).
  app.get('/webhooks/:connectionId', async (c) => {
    const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming
    const url = incoming?.url ?? c.req.path + new URL(c.req.url).search
    const answer = await answerChallenge(c.var.hub, c.req.param('connectionId'), { url, headers: headersOf(c) })
    return c.body(answer.body, answer.status as ContentfulStatusCode, { 'content-type': answer.contentType })
  })
}
