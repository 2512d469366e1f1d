// WooCommerce (REST API v3 at `{siteUrl}/wp-json/wc/v3`): HTTP Basic with the shop's consumer key and secret
// (over HTTPS only: plain HTTP needs OAuth 1.0a), one stock per product or variation, batch writes of 100,
// no compare-and-set, webhooks signed with a secret we choose and never retried by WooCommerce.
import { z } from 'zod'
import { defineConnector, secret } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { SINGLE_LOCATION } from '../../framework/marketplace.ts'
import { WOO_PAGE_SIZE } from './api.ts'
import { getOrder, listOrders } from './orders.ts'
import { listListings, readLevels, setLevels } from './stock.ts'
import { ensureWooWebhooks, interpretWooWebhook, parseWooWebhook, verifyWooSignature } from './webhook.ts'

const WooConfig = z.object({
  siteUrl: z.url({ protocol: /^https$/, error: 'the shop address, starting with https://' }).describe('The shop address, e.g. https://shop.example.com'),
  // WooCommerce generates keys as `ck_`/`cs_` and 40 hex digits (WooCommerce › Settings › Advanced › REST API).
  consumerKey: secret(z.string().regex(/^ck_[0-9a-f]{40}$/, 'a WooCommerce consumer key looks like ck_ and 40 hex digits')),
  consumerSecret: secret(z.string().regex(/^cs_[0-9a-f]{40}$/, 'a WooCommerce consumer secret looks like cs_ and 40 hex digits')),
  // WooCommerce stores the secret through sanitize_text_field, which drops `%xx` sequences, tags and spaces: a
  // secret of other characters would sign with a different key than ours.
  webhookSecret: secret(z.string().regex(/^[A-Za-z0-9._~+/=-]{16,255}$/, 'a webhook secret of 16 to 255 letters, digits or ._~+/=-')),
  requestsPerSecond: z.number().int().min(1).max(100).default(10).describe('Requests per second the shop’s host allows'),
  baseUrl: z.url().optional().describe('Only changed for a sandbox; default {siteUrl}/wp-json/wc/v3'),
})

type WooConfig = z.infer<typeof WooConfig>

const apiBase = (siteUrl: string) => `${siteUrl.replace(/\/+$/, '')}/wp-json/wc/v3`

interface SystemStatus {
  environment?: { home_url?: string; site_url?: string; version?: string }
}

export const woocommerce = defineConnector({
  id: 'woocommerce',
  family: 'marketplace',
  title: 'WooCommerce',
  description: 'Stock of WooCommerce products and variations kept in step with the tills; web orders reserve stock.',
  config: WooConfig,
  http: (config) => ({
    baseURL: config.baseUrl ?? apiBase(config.siteUrl),
    headers: { authorization: `Basic ${Buffer.from(`${config.consumerKey}:${config.consumerSecret}`).toString('base64')}`, accept: 'application/json' },
    // WordPress answers slowly on shared hosting, a batch of 100 especially.
    timeoutMs: 60_000,
    rateLimit: { perSecond: config.requestsPerSecond },
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
  }),
  webhook: {
    verify: (req, config) => verifyWooSignature(req, config.webhookSecret),
    parse: parseWooWebhook,
  },
  async check(ctx) {
    try {
      const res = await ctx.http.request<SystemStatus>({ method: 'GET', url: '/system_status', operation: 'check' }).catch(async (e) => {
        // Some hosts and security plugins block the system status route: a product read proves the key as well.
        if (e instanceof ConnectorError && e.kind === 'permanent') return { ...(await ctx.http.request({ method: 'GET', url: '/products', params: { per_page: 1 }, operation: 'check' })), data: {} as SystemStatus }
        throw e
      })
      const env = res.data?.environment ?? {}
      const site = env.home_url || ctx.config.siteUrl
      return { ok: true, message: `Connected to WooCommerce${env.version ? ` ${env.version}` : ''} at ${site}`, details: { site, version: env.version ?? null } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') {
        return { ok: false, message: `${ctx.config.siteUrl} refused the consumer key and secret: check that the key exists and has Read/Write access`, details: { vendorCode: e.vendorCode } }
      }
      if (e instanceof ConnectorError) return { ok: false, message: `WooCommerce at ${ctx.config.siteUrl} could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    traits: { compareAndSet: false, multiLocation: false, maxBatch: WOO_PAGE_SIZE, webhooks: true, shiftingListingPages: true },
    listLocations: async (ctx) => [{ id: SINGLE_LOCATION, name: new URL(ctx.config.siteUrl).host, active: true }],
    listListings,
    readLevels,
    setLevels,
    listOrders,
    getOrder,
    interpretWebhook: (event) => interpretWooWebhook(event),
    ensureWebhooks: ensureWooWebhooks,
  },
})

export type { WooConfig }
