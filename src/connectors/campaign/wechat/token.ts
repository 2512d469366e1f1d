// The access_token every WeChat call carries, cached per connection until shortly before `expires_in`, fetched by
// one caller at a time. The stable token endpoint (default) hands every process of the hub the same token, so
// workers do not invalidate each other's; the classic `GET /cgi-bin/token` issues a new one each call (and retires
// the previous one after five minutes). A token WeChat refuses (40001/42001) is dropped and fetched again; with
// the stable endpoint a force_refresh is asked for only when WeChat hands back the very token it refused.
// https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
import { createHash } from 'node:crypto'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { wechatJson } from './api.ts'

export interface TokenConfig {
  appId: string
  appSecret: string
  tokenEndpoint: 'stable' | 'classic'
}

interface Cached {
  token: string
  /** Epoch ms after which the token is not used any more. */
  usableUntil: number
}

const cache = new Map<string, Cached>()
const fetching = new Map<string, Promise<Cached>>()
/** Tokens are renewed this long before WeChat's expiry. */
const EARLY_MS = 5 * 60_000

// With a digest of the secret: a changed app secret fetches a token with it (the old token would go on working
// for up to two hours, hiding a wrong new secret).
const keyOf = (ctx: ConnectorContext<TokenConfig>) => `${ctx.connectionId}/${ctx.config.appId}/${createHash('sha256').update(ctx.config.appSecret).digest('hex')}`

async function fetchToken(ctx: ConnectorContext<TokenConfig>, force: boolean): Promise<Cached> {
  const { appId, appSecret } = ctx.config
  const res =
    ctx.config.tokenEndpoint === 'classic'
      ? await ctx.http.request({ method: 'GET', url: '/cgi-bin/token', params: { grant_type: 'client_credential', appid: appId, secret: appSecret }, responseType: 'text', operation: 'getAccessToken', signal: ctx.signal })
      : await ctx.http.request({
          method: 'POST',
          url: '/cgi-bin/stable_token',
          data: { grant_type: 'client_credential', appid: appId, secret: appSecret, force_refresh: force },
          responseType: 'text',
          // Asking twice hands back the same token (force_refresh aside).
          idempotent: !force,
          operation: 'getStableAccessToken',
          signal: ctx.signal,
        })
  const body = wechatJson(res.data)
  const token = typeof body?.access_token === 'string' ? body.access_token : null
  const expiresIn = Number(body?.expires_in)
  if (!token || !(expiresIn > 0)) throw new ConnectorError('permanent', 'WeChat answered the token request without an access_token')
  const now = ctx.now().getTime()
  return { token, usableUntil: now + Math.max(60_000, expiresIn * 1000 - EARLY_MS) }
}

/**
 * A usable access token. `refused` is a token WeChat just refused: it is not handed out again (a fresh one is
 * fetched, forcing a refresh when the stable endpoint insists on the refused one).
 */
export async function accessToken(ctx: ConnectorContext<TokenConfig>, refused?: string): Promise<string> {
  const key = keyOf(ctx)
  const hit = cache.get(key)
  if (hit && hit.token !== refused && hit.usableUntil > ctx.now().getTime()) return hit.token
  if (hit && hit.token === refused) cache.delete(key)
  let pending = fetching.get(key)
  if (!pending) {
    pending = (async () => {
      let got = await fetchToken(ctx, false)
      if (refused && got.token === refused && ctx.config.tokenEndpoint !== 'classic') got = await fetchToken(ctx, true)
      cache.set(key, got)
      return got
    })().finally(() => fetching.delete(key))
    fetching.set(key, pending)
  }
  return (await pending).token
}

/** Forgets the cached token of a connection (its secret changed). */
export const forgetToken = (ctx: ConnectorContext<TokenConfig>) => void cache.delete(keyOf(ctx))
