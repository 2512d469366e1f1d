// OAuth 2.0 refresh-token grant for vendors that rotate refresh tokens (Intuit, Xero; the Xero connector imports
// this file): per connection, the access token and the latest refresh token in memory, one refresh at a time, an
// early refresh before expiry, and one refresh-and-repeat when the API answers 401 to a token it had accepted.
//
// Rotation: every refresh may hand back a new refresh token and retire the old one. The connector cannot write the
// connection's sealed config, so the latest token is kept here and handed to `ctx.updateSecrets` when the framework
// offers it (see keepRotated); until then a restarted process starts again from the token in the config.
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError, type Classified } from '../../framework/http-types.ts'

export interface OAuthClient {
  tokenUrl: string
  clientId: string
  clientSecret: string
  /** The refresh token of the connection's config. */
  refreshToken: string
}

/** RFC 6749 section 5.1 (Intuit adds x_refresh_token_expires_in, Xero id_token and scope). */
interface TokenAnswer {
  access_token?: unknown
  refresh_token?: unknown
  expires_in?: unknown
  token_type?: unknown
}

interface Held {
  /** The client id and config refresh token this entry grew from: a connection given new ones starts over. */
  seed: string
  refreshToken: string
  accessToken: string | null
  /** Epoch ms at which the access token stops working. */
  expiresAt: number
  refreshing: Promise<string> | null
}

/** Refresh this long before the access token expires, so a call never leaves with a token about to die. */
const EARLY_MS = 60_000

const held = new Map<string, Held>()

/**
 * The framework hook a connector needs to persist a rotated secret: merge `patch` into the connection's sealed
 * secrets (and add the values to its redactor). Not in ConnectorContext yet; called here as soon as it is.
 */
export interface SecretWriter {
  updateSecrets?(patch: Record<string, string>): Promise<void>
}

function entryFor(ctx: ConnectorContext<unknown>, client: OAuthClient): Held {
  const seed = `${client.clientId}\n${client.refreshToken}`
  let entry = held.get(ctx.connectionId)
  if (!entry || entry.seed !== seed) {
    entry = { seed, refreshToken: client.refreshToken, accessToken: null, expiresAt: 0, refreshing: null }
    held.set(ctx.connectionId, entry)
  }
  return entry
}

/** OAuth token-endpoint errors (RFC 6749 section 5.2) that only new credentials or a new consent can fix. */
const OAUTH_AUTH_ERRORS = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_scope'])

/** For the HTTP policy's classify: a refused refresh is auth_failed, whatever status the vendor chose (400 or 401). */
export function classifyTokenError(res: { status: number; data: unknown }): Classified | undefined {
  if (res.status < 400 || !res.data || typeof res.data !== 'object') return undefined
  const d = res.data as { error?: unknown; error_description?: unknown }
  if (typeof d.error !== 'string' || !OAUTH_AUTH_ERRORS.has(d.error)) return undefined
  return { kind: 'auth_failed', vendorCode: d.error, message: typeof d.error_description === 'string' ? d.error_description : d.error }
}

async function refresh(ctx: ConnectorContext<unknown>, client: OAuthClient, entry: Held): Promise<string> {
  const basic = Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')
  const res = await ctx.http.request<TokenAnswer>({
    method: 'POST',
    url: client.tokenUrl,
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    data: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: entry.refreshToken }).toString(),
    operation: 'refreshAccessToken',
    // Both vendors keep the previous refresh token working for a while after a rotation, so a refresh whose answer
    // was lost can be sent again.
    idempotent: true,
    signal: ctx.signal,
  })
  const answer = res.data
  if (typeof answer.access_token !== 'string' || !answer.access_token) throw new ConnectorError('permanent', 'the token endpoint answered without an access token', { status: res.status })
  const lifetime = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 1800
  entry.accessToken = answer.access_token
  entry.expiresAt = ctx.now().getTime() + lifetime * 1000
  if (typeof answer.refresh_token === 'string' && answer.refresh_token && answer.refresh_token !== entry.refreshToken) {
    entry.refreshToken = answer.refresh_token
    await keepRotated(ctx, answer.refresh_token)
  }
  return answer.access_token
}

/** The one place a rotated refresh token leaves memory. */
async function keepRotated(ctx: ConnectorContext<unknown>, refreshToken: string): Promise<void> {
  await (ctx as ConnectorContext<unknown> & SecretWriter).updateSecrets?.({ refreshToken })
}

/** A current access token for the connection, refreshed when missing or about to expire (one refresh at a time). */
export async function accessToken(ctx: ConnectorContext<unknown>, client: OAuthClient): Promise<string> {
  const entry = entryFor(ctx, client)
  if (entry.accessToken && entry.expiresAt - EARLY_MS > ctx.now().getTime()) return entry.accessToken
  if (!entry.refreshing) {
    entry.refreshing = refresh(ctx, client, entry).finally(() => {
      entry.refreshing = null
    })
  }
  return entry.refreshing
}

/** Forgets an access token the API refused, unless another caller has already replaced it. */
function discard(ctx: ConnectorContext<unknown>, token: string) {
  const entry = held.get(ctx.connectionId)
  if (entry?.accessToken === token) {
    entry.accessToken = null
    entry.expiresAt = 0
  }
}

/** Runs `call` with an access token; a 401 (token expired or revoked early) refreshes once and runs it again. */
export async function withAccessToken<T>(ctx: ConnectorContext<unknown>, client: OAuthClient, call: (token: string) => Promise<T>): Promise<T> {
  const token = await accessToken(ctx, client)
  try {
    return await call(token)
  } catch (e) {
    if (!(e instanceof ConnectorError && e.kind === 'auth_failed' && e.status === 401)) throw e
    discard(ctx, token)
    return call(await accessToken(ctx, client))
  }
}
