// Standard Webhooks signing (https://www.standardwebhooks.com): a `whsec_<base64>` secret whose decoded bytes key an
// HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}", sent as `webhook-signature: v1,<base64>`.
import { createHmac, randomBytes } from 'node:crypto'

const PREFIX = 'whsec_'
/** The spec allows 24 to 64 random bytes; 32 matches the HMAC-SHA256 block of security. */
const SECRET_BYTES = 32

export const generateSigningSecret = () => `${PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`

function signingKey(secret: string): Buffer {
  const key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64')
  if (key.length < 24 || key.length > 64) throw new Error('a webhook signing secret must hold 24 to 64 bytes')
  return key
}

export interface SignedHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** The three Standard Webhooks headers for one attempt; `at` is the time of sending, in whole unix seconds. */
export function signMessage(secret: string, messageId: string, at: Date, body: string): SignedHeaders {
  const timestamp = String(Math.floor(at.getTime() / 1000))
  const mac = createHmac('sha256', signingKey(secret)).update(`${messageId}.${timestamp}.${body}`, 'utf8').digest('base64')
  return { 'webhook-id': messageId, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${mac}` }
}
