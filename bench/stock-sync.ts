// Stock sync at the size of a real catalogue: N SKUs (default 10,000) in a store, the same SKUs in a Shopify shop and a
// WooCommerce shop (msw sandboxes with vendor-like latency and rate limits), the hub in this process with its real
// worker. Measured: the first import and its convergence, the full audit of both shops (with drift planted on each
// side, found and repaired), and under an open-loop stream of till sales the time from a committed sale until both
// shops hold the right quantity (p50/p95/p99), split into the wait before the write leaves and the vendor's part.
// Usage: npm run bench:stock-sync [-- --skus 10000 --rate 10 --seconds 60 --concurrency 8 --poll-interval 2000
//        --drift 2 --shopify-latency 40-60 --woo-latency 80-120 --woo-host-rps 15 --bucket 1000/100]
// First: it extends zod with .openapi(), which the HTTP routes call on schemas the core modules below define.
import '@hono/zod-openapi'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { http, passthrough } from 'msw'
import { setupServer } from 'msw/node'
import { sql } from 'drizzle-orm'
import { createMerchantWithAdmin } from '../src/core/merchants/onboard.ts'
import { systemActor } from '../src/core/staff/actor.ts'
import { createStore, createRegister } from '../src/core/stores/service.ts'
import { ensureDefaultTaxCategories } from '../src/core/catalog/tax-categories.ts'
import { createProduct } from '../src/core/catalog/products.ts'
import { applyMovements } from '../src/core/stock/ledger.ts'
import { openSession } from '../src/core/sales/cash-sessions.ts'
import { createApiKey } from '../src/core/staff/api-keys.ts'
import { syncListings, type ListingSyncSummary } from '../src/jobs/stock-sync.ts'
import { startWorker } from '../src/jobs/worker.ts'
import { createApp } from '../src/http/app.ts'
import { listen } from '../src/http/server.ts'
import { loadConfig } from '../src/lib/config.ts'
import { generateSecretKey } from '../src/lib/secrets.ts'
import { openHub, type Hub } from '../src/runtime.ts'
import { createShopifyConnection, createWooConnection, SHOP, SHOP_SECRET, SHOP_TOKEN, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../test/helpers/channels.ts'
import { shopifySandbox } from '../src/sandboxes/vendors/shopify.ts'
import { wooSandbox } from '../src/sandboxes/vendors/woocommerce.ts'
import { benchDatabase, freshDatabase, httpClient, logger, openLoop, percentile, round1 } from './lib.ts'

const { values: args } = parseArgs({
  options: {
    skus: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '8' },
    // Unset: the worker's own default, as `tillbridge serve` runs it.
    'poll-interval': { type: 'string' },
    drift: { type: 'string', default: '2' },
    'shopify-latency': { type: 'string', default: '40-60' },
    'woo-latency': { type: 'string', default: '80-120' },
    'woo-host-rps': { type: 'string', default: '15' },
    bucket: { type: 'string', default: '1000/100' },
  },
})

const SKUS = Number(args.skus)
const RATE = Number(args.rate)
const SECONDS = Number(args.seconds)
const CONCURRENCY = Number(args.concurrency)
const POLL_INTERVAL = args['poll-interval'] === undefined ? undefined : Number(args['poll-interval'])
const DRIFT_PCT = Number(args.drift)
const range = (s: string) => {
  const [lo, hi] = s.split('-').map(Number) as [number, number?]
  return { lo: lo!, hi: hi ?? lo! }
}
const SHOP_LATENCY = range(args['shopify-latency'])
const WOO_LATENCY = range(args['woo-latency'])
const WOO_HOST_RPS = Number(args['woo-host-rps'])
const [BUCKET_MAX, BUCKET_RATE] = args.bucket.split('/').map(Number) as [number, number]
if (!Number.isInteger(SKUS) || SKUS < 100) throw new Error('--skus must be a whole number of at least 100')

let seed = 12345
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31
  return seed % n
}
/** `count` distinct SKU indexes, none of them in `avoid`. */
function pick(count: number, avoid: Set<number> = new Set()): Set<number> {
  const out = new Set<number>()
  while (out.size < count) {
    const i = rnd(SKUS)
    if (!avoid.has(i)) out.add(i)
  }
  return out
}
const secs = (ms: number) => Math.round(ms) / 1000
const elapsed = (t: number) => secs(performance.now() - t)
const stockOf = (i: number) => 200 + ((i * 37) % 300)
const skuOf = (i: number) => `SYNC-${String(i).padStart(6, '0')}`

const db = await benchDatabase()
const server = setupServer()
try {
  const url = await freshDatabase(db, 'tillbridge_bench_stock_sync')
  const config = loadConfig({ ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', TILLBRIDGE_SECRET_KEY: generateSecretKey(), WORKER_CONCURRENCY: String(CONCURRENCY) })
  const hub = await openHub(config, { poolSize: 30, logger })

  // ---- the store ---------------------------------------------------------------------------------------------
  let t = performance.now()
  console.log(`seeding ${SKUS.toLocaleString('en')} SKUs through the core (createProduct, applyMovements)…`)
  const base = await hub.database.db.transaction(async (tx) => {
    const { merchant } = await createMerchantWithAdmin(tx, { name: 'Bench Retail', admin: { email: 'bench@example.com', password: 'bench-password-1' } })
    const actor = systemActor(merchant.id, 'bench')
    const taxes = await ensureDefaultTaxCategories(tx, actor)
    const { store, location, register } = await createStore(tx, actor, { code: 'SH01', name: '上海一店' })
    const registers = [register.id]
    for (let r = 2; r <= 4; r++) registers.push((await createRegister(tx, actor, store.id, { code: String(r).padStart(2, '0'), name: `Register ${r}` })).id)
    for (const id of registers) await openSession(tx, actor, { registerId: id, openingFloat: 50_000 })
    const { key } = await createApiKey(tx, { ...actor, type: 'system' }, { name: 'bench till', role: 'cashier' })
    return { merchantId: merchant.id, actor, taxId: taxes[0]!.id, locationId: location.id, registers, key }
  })
  const CHUNK = 500
  const chunks = Array.from({ length: Math.ceil(SKUS / CHUNK) }, (_, c) => c)
  for (let at = 0; at < chunks.length; at += 4) {
    await Promise.all(
      chunks.slice(at, at + 4).map((c) =>
        hub.database.db.transaction(async (tx) => {
          const movements = []
          for (let i = c * CHUNK; i < Math.min(SKUS, (c + 1) * CHUNK); i++) {
            const p = await createProduct(tx, base.actor, { name: `商品 ${i}`, taxCategoryId: base.taxId, variants: [{ sku: skuOf(i), price: 1990, cost: 900 }] })
            movements.push({ variantId: p.variants[0]!.id, locationId: base.locationId, quantity: stockOf(i), kind: 'receipt' as const, causeType: 'receipt' as const })
          }
          await applyMovements(tx, base.actor, movements, { policy: 'allow' })
        }),
      ),
    )
  }
  console.log(`  ${elapsed(t)} s`)

  // ---- the shops -----------------------------------------------------------------------------------------------
  // What each SKU's channel quantity must be (the default rule offers all of available).
  const expected = Array.from({ length: SKUS }, (_, i) => stockOf(i))
  const plantedShop = pick(Math.round((SKUS * DRIFT_PCT) / 100))
  const plantedWoo = pick(Math.round((SKUS * DRIFT_PCT) / 100))
  const drifted = (i: number) => (i % 5 === 0 ? 0 : expected[i]! + 1 + (i % 9))
  const shop = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET, latencyMs: SHOP_LATENCY.lo, bucket: { maximumAvailable: BUCKET_MAX, restoreRate: BUCKET_RATE } })
  const loc = shop.addLocation('上海一店')
  const woo = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: new Date(), latencyMs: WOO_LATENCY.lo, maxRequestsPerSecond: WOO_HOST_RPS })
  const shopItem: string[] = []
  const wooId: number[] = []
  for (let i = 0; i < SKUS; i++) {
    const p = shop.addProduct({ title: `商品 ${i}`, variants: [{ sku: skuOf(i), levels: { [loc.id]: plantedShop.has(i) ? drifted(i) : expected[i]! } }] })
    shopItem.push(p.variants[0]!.inventoryItemId)
    wooId.push(woo.addProduct({ name: `商品 ${i}`, sku: skuOf(i), stock: plantedWoo.has(i) ? drifted(i) : expected[i]! }).id)
  }
  const itemIndex = new Map(shopItem.map((id, i) => [id, i]))
  const wooIndex = new Map(wooId.map((id, i) => [id, i]))

  // Vendor latency with jitter, in front of the sandboxes' fixed part; and, while the sales run, when each write of a
  // SKU's quantity reached the vendor (before the vendor's latency).
  const sent = { shop: new Map<string, number>(), woo: new Map<string, number>() }
  let watchWrites = false
  const jitter = (r: { lo: number; hi: number }) => (r.hi > r.lo ? sleep(Math.random() * (r.hi - r.lo)) : undefined)
  const vendorFront = [
    http.post(`https://${SHOP}/admin/api/:version/graphql.json`, async ({ request }) => {
      if (watchWrites) {
        const now = performance.now()
        const body = (await request.clone().json()) as { variables?: { input?: { quantities?: { inventoryItemId: string; quantity: number }[] } } }
        for (const q of body.variables?.input?.quantities ?? []) {
          const i = itemIndex.get(q.inventoryItemId)
          if (i !== undefined && !sent.shop.has(`${i}:${q.quantity}`)) sent.shop.set(`${i}:${q.quantity}`, now)
        }
      }
      await jitter(SHOP_LATENCY)
    }),
    http.all(`${woo.baseUrl}/*`, async ({ request }) => {
      if (watchWrites && request.method === 'POST' && new URL(request.url).pathname.endsWith('/batch')) {
        const now = performance.now()
        const body = (await request.clone().json()) as { update?: { id: number; stock_quantity: number }[] }
        for (const u of body.update ?? []) {
          const i = wooIndex.get(u.id)
          if (i !== undefined && !sent.woo.has(`${i}:${u.stock_quantity}`)) sent.woo.set(`${i}:${u.stock_quantity}`, now)
        }
      }
      await jitter(WOO_LATENCY)
    }),
  ]
  server.listen({ onUnhandledFrame: 'error' })
  server.resetHandlers(...vendorFront, ...shop.handlers, ...woo.handlers)

  const shopifyId = await createShopifyConnection(hub, base.merchantId, { locations: [{ remote: loc.id, ours: [base.locationId] }] })
  const wooConnId = await createWooConnection(hub, base.merchantId, { locationIds: [base.locationId] })
  const refs = { shopify: { merchantId: base.merchantId, connectionId: shopifyId }, woo: { merchantId: base.merchantId, connectionId: wooConnId } }
  const connIds = [shopifyId, wooConnId]

  const worker = await startWorker(hub, { concurrency: CONCURRENCY, ...(POLL_INTERVAL === undefined ? {} : { pollInterval: POLL_INTERVAL }) })
  console.log(
    `vendors: Shopify ${SHOP_LATENCY.lo}–${SHOP_LATENCY.hi} ms per call, cost bucket ${BUCKET_MAX} points restoring ${BUCKET_RATE}/s; ` +
      `WooCommerce ${WOO_LATENCY.lo}–${WOO_LATENCY.hi} ms per call, host answers 429 past ${WOO_HOST_RPS} requests/s (connector limits itself to 10/s); ` +
      `worker in process, concurrency ${CONCURRENCY}, poll interval ${POLL_INTERVAL ?? 'default (2000)'} ms`,
  )

  const counters = () => ({
    shopCalls: shop.state.requests.length,
    shopWrites: shop.requestsFor('InventorySetQuantities').length,
    shopThrottled: shop.state.requests.filter((r) => r.answer === 'throttled').length,
    wooCalls: woo.state.requests.length,
    wooWrites: woo.state.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/batch')).length,
    woo429: woo.state.rateLimited,
  })
  const since = (a: ReturnType<typeof counters>) => {
    const b = counters()
    return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - a[k as keyof typeof a]])) as ReturnType<typeof counters>
  }
  const showCalls = (c: ReturnType<typeof counters>) =>
    `Shopify ${c.shopCalls} calls (${c.shopWrites} inventorySetQuantities, ${c.shopThrottled} THROTTLED); WooCommerce ${c.wooCalls} calls (${c.wooWrites} batch writes, ${c.woo429} × 429)`

  /** Waits until neither connection has anything left to push: no noted change, no dirty level, no push job. */
  async function converged(timeoutMs = 30 * 60_000): Promise<void> {
    const end = performance.now() + timeoutMs
    for (;;) {
      const { rows } = await hub.database.db.execute<{ n: number }>(sql`
        select (select count(*) from channel_stock_changes where connection_id = any(${sql.param(connIds)}::uuid[]))
             + (select count(*) from channel_levels where connection_id = any(${sql.param(connIds)}::uuid[]) and dirty_since is not null)
             + (select count(*) from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id
                 where k.identifier = 'stock.push' and j.attempts < j.max_attempts) as n`)
      if (Number(rows[0]!.n) === 0) return
      if (performance.now() > end) throw new Error(`the sync did not converge within ${timeoutMs / 1000} s`)
      await sleep(20)
    }
  }
  /** SKUs whose quantity on a shop is not what it must be. */
  const wrong = () => {
    const out = { shopify: [] as number[], woo: [] as number[] }
    for (let i = 0; i < SKUS; i++) {
      if (shop.level(shopItem[i]!, loc.id) !== expected[i]) out.shopify.push(i)
      if (woo.stockOf(wooId[i]!) !== expected[i]) out.woo.push(i)
    }
    return out
  }
  const timed = async <T>(f: () => Promise<T>) => {
    const t0 = performance.now()
    const value = await f()
    return { value, s: elapsed(t0) }
  }

  // ---- first import ------------------------------------------------------------------------------------------------
  console.log(`first import of both shops (${plantedShop.size} SKUs different on Shopify, ${plantedWoo.size} on WooCommerce)…`)
  let before = counters()
  t = performance.now()
  const [importShop, importWoo] = await Promise.all([timed(() => syncListings(hub, refs.shopify, 'import')), timed(() => syncListings(hub, refs.woo, 'import'))])
  const listingS = elapsed(t)
  await converged()
  const initialS = elapsed(t)
  const afterImport = wrong()
  console.log(
    `  listings read: Shopify ${importShop.s} s (${importShop.value?.bound} bound, ${importShop.value?.pages} pages), WooCommerce ${importWoo.s} s (${importWoo.value?.bound} bound, ${importWoo.value?.pages} pages); ` +
      `converged after ${initialS} s; wrong afterwards: Shopify ${afterImport.shopify.length}, WooCommerce ${afterImport.woo.length}`,
  )
  console.log(`  ${showCalls(since(before))}`)

  // ---- audit -------------------------------------------------------------------------------------------------------
  // Quantities changed in each shop's admin, no webhook sent.
  const auditShop = pick(Math.round((SKUS * DRIFT_PCT) / 100))
  const auditWoo = pick(Math.round((SKUS * DRIFT_PCT) / 100))
  for (const i of auditShop) shop.setAvailable(shopItem[i]!, loc.id, drifted(i))
  for (const i of auditWoo) woo.setStock(wooId[i]!, drifted(i))
  console.log(`full audit of both shops (${auditShop.size} SKUs changed on Shopify, ${auditWoo.size} on WooCommerce, without webhooks)…`)
  before = counters()
  t = performance.now()
  const audits = await Promise.all([timed(() => syncListings(hub, refs.shopify, 'audit')), timed(() => syncListings(hub, refs.woo, 'audit'))])
  const readS = elapsed(t)
  await converged()
  const auditS = elapsed(t)
  const afterAudit = wrong()
  const repaired = {
    shopify: [...auditShop].filter((i) => shop.level(shopItem[i]!, loc.id) === expected[i]).length,
    woo: [...auditWoo].filter((i) => woo.stockOf(wooId[i]!) === expected[i]).length,
  }
  const driftFound = { shopify: (audits[0].value as ListingSyncSummary).drift, woo: (audits[1].value as ListingSyncSummary).drift }
  const auditCalls = since(before)
  console.log(
    `  read: Shopify ${audits[0].s} s, WooCommerce ${audits[1].s} s; all repaired after ${auditS} s. Drift found: Shopify ${driftFound.shopify} of ${auditShop.size}, ` +
      `WooCommerce ${driftFound.woo} of ${auditWoo.size}; repaired ${repaired.shopify} and ${repaired.woo}; wrong afterwards: Shopify ${afterAudit.shopify.length}, WooCommerce ${afterAudit.woo.length}`,
  )
  console.log(`  ${showCalls(auditCalls)}`)

  // ---- till sales ----------------------------------------------------------------------------------------------------
  const api = await listen(createApp(hub, { worker }), { port: 0, host: '127.0.0.1' })
  server.use(http.all(`http://127.0.0.1:${api.port}/*`, () => passthrough()))
  const till = httpClient(api.port, 32)
  interface Watch {
    i: number
    quantity: number
    committed: number
    shopAt?: number
    wooAt?: number
  }
  const inFlight = new Map<number, Watch>()
  const done: Watch[] = []
  const watcher = setInterval(() => {
    const now = performance.now()
    for (const w of inFlight.values()) {
      if (w.shopAt === undefined && shop.level(shopItem[w.i]!, loc.id) === w.quantity) w.shopAt = now
      if (w.wooAt === undefined && woo.stockOf(wooId[w.i]!) === w.quantity) w.wooAt = now
      if (w.shopAt !== undefined && w.wooAt !== undefined) {
        inFlight.delete(w.i)
        done.push(w)
      }
    }
  }, 5)
  const reserved = new Set<number>()
  let sold = 0
  console.log(`till sales: ${RATE}/s for ${SECONDS} s, open loop, 1 unit of a random SKU not already in flight, over HTTP…`)
  before = counters()
  watchWrites = true
  const checkout = await openLoop(SECONDS, RATE, async (n) => {
    let i = rnd(SKUS)
    while (reserved.has(i)) i = rnd(SKUS)
    reserved.add(i)
    const res = await till.request('POST', '/api/v1/sales', { registerId: base.registers[n % base.registers.length], lines: [{ sku: skuOf(i), quantity: 1 }], tenders: [{ kind: 'cash', amount: 2000 }] }, { authorization: `Bearer ${base.key}` })
    if (res.status !== 201) {
      reserved.delete(i)
      return `${res.status} ${res.body.slice(0, 120)}`
    }
    // Committed before the answer was sent: the answer's arrival is the (slightly late) commit time.
    const committed = performance.now()
    expected[i]! -= 1
    sold++
    inFlight.set(i, { i, quantity: expected[i]!, committed })
    return true
  })
  const end = performance.now() + 120_000
  while (inFlight.size > 0 && performance.now() < end) await sleep(20)
  clearInterval(watcher)
  watchWrites = false
  const unresolved = inFlight.size
  const salesCalls = since(before)
  till.close()
  await converged()
  const afterSales = wrong()

  // Every unit sold is in the ledger: the tracked quantities are the store's.
  const { rows: ledger } = await hub.database.db.execute<{ sku: string; available: string }>(sql`
    select v.sku, (s.on_hand - s.reserved)::text as available from stock_levels s join variants v on v.id = s.variant_id where s.location_id = ${base.locationId}`)
  const ledgerOff = ledger.filter((r) => Number(r.available) !== expected[Number(r.sku.slice(5))]).length

  const sorted = (xs: number[]) => xs.sort((a, b) => a - b)
  const both = sorted(done.map((w) => (Math.max(w.shopAt!, w.wooAt!) - w.committed) / 1000))
  const toShop = sorted(done.map((w) => (w.shopAt! - w.committed) / 1000))
  const toWoo = sorted(done.map((w) => (w.wooAt! - w.committed) / 1000))
  // The wait until the write left for the vendor (debounce, worker pickup, our own rate limits), and the vendor's part.
  const leftShop = sorted(done.map((w) => ((sent.shop.get(`${w.i}:${w.quantity}`) ?? NaN) - w.committed) / 1000).filter(Number.isFinite))
  const leftWoo = sorted(done.map((w) => ((sent.woo.get(`${w.i}:${w.quantity}`) ?? NaN) - w.committed) / 1000).filter(Number.isFinite))
  const p = (xs: number[], q: number) => Math.round(percentile(xs, q) * 1000) / 1000
  const line = (name: string, xs: number[]) => `  ${name}: p50 ${p(xs, 50)} s, p95 ${p(xs, 95)} s, p99 ${p(xs, 99)} s, max ${p(xs, 100)} s`
  console.log(`  ${sold} sales committed (${checkout.failed} failed${checkout.failed ? ` ${JSON.stringify(checkout.errors)}` : ''}), checkout p50 ${round1(checkout.p50)} ms, p99 ${round1(checkout.p99)} ms`)
  console.log(line('sale → both shops right', both))
  console.log(line('sale → Shopify right', toShop))
  console.log(line('sale → WooCommerce right', toWoo))
  console.log(line('sale → Shopify write sent', leftShop))
  console.log(line('sale → WooCommerce write sent', leftWoo))
  console.log(`  ${showCalls(salesCalls)}; unresolved after 120 s: ${unresolved}; wrong afterwards: Shopify ${afterSales.shopify.length}, WooCommerce ${afterSales.woo.length}; ledger differs for ${ledgerOff} SKUs`)

  await api.close(1000)
  await worker.stop(5000)
  await hub.close()

  const correct = afterImport.shopify.length + afterImport.woo.length + afterAudit.shopify.length + afterAudit.woo.length + afterSales.shopify.length + afterSales.woo.length + unresolved + ledgerOff === 0
  const result = {
    skus: SKUS,
    audit_s: auditS,
    p50_s: p(both, 50),
    p95_s: p(both, 95),
    p99_s: p(both, 99),
    max_s: p(both, 100),
    p95_shopify_s: p(toShop, 95),
    p95_woo_s: p(toWoo, 95),
    p50_until_sent_shopify_s: p(leftShop, 50),
    p50_until_sent_woo_s: p(leftWoo, 50),
    initial_sync_s: initialS,
    initial_listing_s: listingS,
    audit_read_s: readS,
    audit_read_shopify_s: audits[0].s,
    audit_read_woo_s: audits[1].s,
    drift_planted: { shopify: auditShop.size, woo: auditWoo.size },
    drift_found: driftFound,
    drift_repaired: repaired,
    sales: sold,
    rate_per_s: RATE,
    seconds: SECONDS,
    checkout_p50_ms: round1(checkout.p50),
    pushes_shopify: salesCalls.shopWrites,
    pushes_woo: salesCalls.wooWrites,
    throttled_shopify: salesCalls.shopThrottled + auditCalls.shopThrottled,
    rate_limited_woo: salesCalls.woo429 + auditCalls.woo429,
    audit_calls: { shopify: auditCalls.shopCalls, woo: auditCalls.wooCalls },
    worker_concurrency: CONCURRENCY,
    poll_interval_ms: POLL_INTERVAL ?? 2000,
    unresolved,
    correct,
  }
  console.log(JSON.stringify(result))
  if (!correct) process.exitCode = 1
} finally {
  server.close()
  await db.close()
}
