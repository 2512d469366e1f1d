// Taobao and Tmall shops through the Taobao Open Platform (TOP, https://open.taobao.com): signed form POSTs to one
// gateway, errors as 200 answers with `error_response`. Stock is kept per SKU with no compare-and-set; absolute writes
// take 20 SKUs of one item per call, incremental writes are idempotent on Tmall only (`outer_biz_key`). Orders are
// polled: TOP pushes through TMC, a long-lived message channel this hub does not open (no webhooks here).
import { defineConnector } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { SINGLE_LOCATION } from '../../framework/marketplace.ts'
import { TaobaoConfig, TOP_GATEWAY } from './config.ts'
import { callTop, classifyTop } from './gateway.ts'
import { listListings, readLevels } from './listings.ts'
import { adjustLevels, setLevels } from './stock.ts'
import { getOrder, listOrders } from './trades.ts'

export { TOP_GATEWAY, TaobaoConfig } from './config.ts'

export const taobao = defineConnector({
  id: 'taobao',
  family: 'marketplace',
  title: 'Taobao / Tmall',
  description: 'A Taobao (淘宝) or Tmall (天猫) shop: its SKUs and their stock, and its trades, through the Taobao Open Platform.',
  config: TaobaoConfig,
  http: (config) => ({
    baseURL: config.gatewayUrl ?? TOP_GATEWAY,
    timeoutMs: 20_000,
    rateLimit: { perSecond: config.callsPerSecond, burst: Math.max(1, Math.ceil(config.callsPerSecond)) },
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: classifyTop,
  }),
  async check(ctx) {
    try {
      const answer = await callTop<{ user?: { nick?: string; type?: string } }>(ctx, 'taobao.user.seller.get', { fields: 'nick,type' }, { operation: 'check', idempotent: true })
      const nick = answer.user?.nick ?? 'an unnamed seller'
      // type B is a Tmall (商城) seller, C a Taobao one.
      const tmallShop = answer.user?.type === 'B'
      if (ctx.config.platform === 'tmall' && answer.user?.type && !tmallShop) {
        return { ok: false, message: `Signed in as ${nick}, a Taobao shop: set the platform to taobao (tmall.* stock calls are for Tmall shops)`, details: { nick, type: answer.user.type } }
      }
      return { ok: true, message: `Signed in to ${tmallShop ? 'Tmall' : 'Taobao'} as ${nick}`, details: { nick, type: answer.user?.type ?? null } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') {
        return { ok: false, message: `TOP refused the connection (${e.vendorCode ?? 'auth'}): check the app key and secret, and authorise the shop again for a new session key`, details: { kind: e.kind, vendorCode: e.vendorCode } }
      }
      if (e instanceof ConnectorError) return { ok: false, message: `TOP could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    traits: { compareAndSet: false, multiLocation: false, maxBatch: 20, webhooks: false, shiftingListingPages: true },
    listLocations: async (ctx) => [{ id: SINGLE_LOCATION, name: ctx.config.platform === 'tmall' ? 'Tmall shop stock' : 'Taobao shop stock', active: true }],
    listListings,
    readLevels,
    setLevels,
    adjustLevels,
    listOrders,
    getOrder,
  },
})
