// Shopify (GraphQL Admin API, pinned to 2026-04): an Admin API access token per shop, stock as `available` per
// inventory item and location written with compare-and-set and an idempotency key, orders by poll and by webhook,
// and the calculated-cost rate limit kept by graphql.ts.
import { z } from 'zod'
import { defineConnector, secret } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { classifyShopify, shopifyGraphql, SHOPIFY_API_VERSION } from './graphql.ts'
import { listListings, listLocations, readLevels, setLevels } from './inventory.ts'
import { getOrder, listOrders } from './orders.ts'
import { ensureShopifyWebhooks, interpretShopifyWebhook, parseShopifyWebhook, verifyShopifyWebhook } from './webhook.ts'

export { SHOPIFY_API_VERSION }

const SHOP_DOMAIN = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/

const ShopifyConfig = z.object({
  shop: z
    .string()
    .trim()
    .toLowerCase()
    // The shop's handle alone ("my-shop") is taken as its myshopify domain.
    .transform((s) => (s.includes('.') ? s : `${s}.myshopify.com`))
    .pipe(z.string().regex(SHOP_DOMAIN, 'the shop is its myshopify domain, like my-shop.myshopify.com'))
    .describe('The shop’s myshopify.com domain (not a custom domain)'),
  accessToken: secret(z.string().trim().min(20, 'an Admin API access token looks like shpat_…').regex(/^\S+$/, 'an access token has no spaces')).describe(
    'Admin API access token of the app installed on the shop (scopes read_products, read_inventory, write_inventory, read_orders, read_locations)',
  ),
  webhookSecret: secret(z.string().min(1)).describe('The app’s client secret, which signs its webhooks'),
  baseUrl: z.url().optional().describe('Only changed for a sandbox; default https://{shop}'),
})

type Config = z.infer<typeof ShopifyConfig>

export const shopify = defineConnector({
  id: 'shopify',
  family: 'marketplace',
  title: 'Shopify',
  description: 'Online store stock and orders through the Shopify GraphQL Admin API: available quantities per location, online orders and pickups.',
  config: ShopifyConfig,
  http: (config: Config) => ({
    baseURL: config.baseUrl ?? `https://${config.shop}`,
    headers: { 'x-shopify-access-token': config.accessToken, 'content-type': 'application/json', accept: 'application/json' },
    timeoutMs: 20_000,
    // The calculated-cost bucket is kept in graphql.ts; 429 (with Retry-After) and 5xx are the client's.
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: classifyShopify,
  }),
  webhook: {
    verify: (req, config) => verifyShopifyWebhook(req, config),
    parse: parseShopifyWebhook,
  },
  async check(ctx) {
    try {
      const { data } = await shopifyGraphql<{ shop: { name: string; myshopifyDomain: string } }>(ctx, {
        operation: 'CheckShop',
        query: 'query CheckShop { shop { name myshopifyDomain } }',
        cost: 1,
        idempotent: true,
      })
      if (data.shop.myshopifyDomain !== ctx.config.shop) return { ok: false, message: `The token belongs to ${data.shop.myshopifyDomain}, not ${ctx.config.shop}` }
      return { ok: true, message: `Connected to the Shopify shop ${data.shop.name} (${data.shop.myshopifyDomain}), API ${SHOPIFY_API_VERSION}`, details: { shop: data.shop.myshopifyDomain } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: 'Shopify refused the access token: check that the app is still installed and has its scopes' }
      if (e instanceof ConnectorError) return { ok: false, message: `Shopify could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    traits: { compareAndSet: true, multiLocation: true, maxBatch: 250, webhooks: true, levelEventTimes: true },
    listLocations: (ctx) => listLocations(ctx),
    listListings: (ctx, input) => listListings(ctx, input),
    readLevels: (ctx, input) => readLevels(ctx, input),
    setLevels: (ctx, input) => setLevels(ctx, input),
    listOrders: (ctx, input) => listOrders(ctx, input),
    getOrder: (ctx, input) => getOrder(ctx, input),
    interpretWebhook: (event) => interpretShopifyWebhook(event),
    ensureWebhooks: (ctx, input) => ensureShopifyWebhooks(ctx, input),
  },
})
