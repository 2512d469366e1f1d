// Checkout throughput and latency through the HTTP API, against pgbench's TPC-B-like transactions on the same
// database server in the same run. Usage: npm run bench:checkout [-- --seconds 20 --clients 32]
import os from 'node:os'
import { parseArgs } from 'node:util'
import { openDatabase } from '../src/db/client.ts'
import { migrate } from '../src/db/migrate.ts'
import { createMerchantWithAdmin } from '../src/core/merchants/onboard.ts'
import { systemActor } from '../src/core/staff/actor.ts'
import { createStore, createRegister } from '../src/core/stores/service.ts'
import { ensureDefaultTaxCategories } from '../src/core/catalog/tax-categories.ts'
import { createProduct } from '../src/core/catalog/products.ts'
import { applyMovements } from '../src/core/stock/ledger.ts'
import { openSession } from '../src/core/sales/cash-sessions.ts'
import { createApiKey } from '../src/core/staff/api-keys.ts'
import { createPromotion } from '../src/core/sales/promotions.ts'
import { benchDatabase, closedLoop, cpuSince, freshDatabase, httpClient, logger, openLoop, pgbenchTps, processCpu, resetStatements, round1, serverCpu, startHub, topStatements } from './lib.ts'

const { values: args } = parseArgs({
  options: {
    statements: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '20' },
    clients: { type: 'string', default: '32' },
    stores: { type: 'string', default: '8' },
    products: { type: 'string', default: '2000' },
  },
})
const SECONDS = Number(args.seconds)
const CLIENTS = Number(args.clients)
const STORES = Number(args.stores)
const PRODUCTS = Number(args.products)

const db = await benchDatabase({ statements: args.statements })
try {
  const url = await freshDatabase(db, 'tillbridge_bench_checkout')
  const database = openDatabase(url, { logger, max: 4 })
  await migrate(database.pool, logger)

  // Each client is a till of its own, as in a shop: a register rings one sale at a time.
  const perStore = Math.ceil(CLIENTS / STORES)
  console.log(`seeding ${STORES} stores × ${perStore} registers and ${PRODUCTS} products…`)
  const seeded = await database.db.transaction(async (tx) => {
    const { merchant } = await createMerchantWithAdmin(tx, { name: 'Bench Retail', admin: { email: 'bench@example.com', password: 'bench-password-1' } })
    const actor = systemActor(merchant.id, 'bench')
    const taxes = await ensureDefaultTaxCategories(tx, actor)
    const registers: string[] = []
    const locations: string[] = []
    for (let s = 0; s < STORES; s++) {
      const { store, location, register } = await createStore(tx, actor, { code: `B${s}`, name: `Store ${s}` })
      const more = []
      for (let r = 2; r <= perStore; r++) more.push(await createRegister(tx, actor, store.id, { code: String(r).padStart(2, '0'), name: `Register ${r}` }))
      for (const r of [register, ...more]) {
        await openSession(tx, actor, { registerId: r.id, openingFloat: 50_000 })
        registers.push(r.id)
      }
      locations.push(location.id)
    }
    const skus: string[] = []
    for (let p = 0; p < PRODUCTS; p++) {
      const sku = `BENCH-${p}`
      const prod = await createProduct(tx, actor, { name: `商品 ${p}`, taxCategoryId: taxes[p % taxes.length]!.id, variants: [{ sku, price: 100 + ((p * 37) % 9900), cost: 50 }] })
      await applyMovements(tx, actor, locations.map((l) => ({ variantId: prod.variants[0]!.id, locationId: l, quantity: 1_000_000_000, kind: 'receipt' as const, causeType: 'receipt' as const })), { policy: 'allow' })
      skus.push(sku)
    }
    await createPromotion(tx, actor, { name: '满100减10', kind: 'spend_threshold', level: 'order', params: { tiers: [{ threshold: 10000, amount: 1000 }] } })
    const { key } = await createApiKey(tx, { ...actor, type: 'system' }, { name: 'bench till', role: 'cashier' })
    return { registers, skus, key }
  })
  await database.close()

  const hub = await startHub('api', { DATABASE_URL: url })
  const client = httpClient(hub.port, CLIENTS * 2)
  let seed = 1
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  const sale = async (worker: number): Promise<boolean | string> => {
    const lines = Array.from({ length: 1 + rnd(5) }, () => ({ sku: seeded.skus[rnd(seeded.skus.length)]!, quantity: 1 + rnd(3) }))
    const res = await client.request('POST', '/api/v1/sales', { registerId: seeded.registers[worker % seeded.registers.length], lines, tenders: [{ kind: 'cash', amount: 10_000_000 }] }, { authorization: `Bearer ${seeded.key}` })
    if (res.status === 201) return true
    return `${res.status} ${res.body.slice(0, 120)}`
  }

  console.log('warming up…')
  await closedLoop(3, CLIENTS, sale)
  if (args.statements) await resetStatements(url)
  console.log(`peak: ${CLIENTS} clients, ${SECONDS} s, closed loop…`)
  // Where a checkout's CPU goes, on this machine's two cores: the hub's process, the database server's, and this
  // process's (the clients that ring the sales: what it uses, the hub and the database cannot).
  const dbCpu = await serverCpu(url)
  const hubCpu = processCpu(hub.child.pid)
  const clientCpu = processCpu(process.pid)
  const [db0, hub0, client0] = [dbCpu(), hubCpu(), clientCpu()]
  const peak = await closedLoop(SECONDS, CLIENTS, sale)
  const [dbUsed, hubUsed, clientUsed] = [await cpuSince(dbCpu, db0), await cpuSince(hubCpu, hub0), await cpuSince(clientCpu, client0)]
  const perCheckout = (s: number | null) => (s === null || peak.done === 0 ? null : Math.round((s * 1000 * 100) / peak.done) / 100)
  if (args.statements) await topStatements(url)
  console.log(`  ${round1(peak.perSecond)} checkouts/s, p50 ${round1(peak.p50)} ms, p99 ${round1(peak.p99)} ms, failed ${peak.failed}`, peak.errors)
  console.log(`  CPU per checkout: database server ${perCheckout(dbUsed) ?? '?'} ms, hub ${perCheckout(hubUsed) ?? '?'} ms, load generator ${perCheckout(clientUsed) ?? '?'} ms`)
  const half = peak.perSecond / 2
  console.log(`half of peak: ${round1(half)} checkouts/s, open loop, ${SECONDS} s…`)
  const steady = await openLoop(SECONDS, half, (i) => sale(i % CLIENTS))
  console.log(`  ${round1(steady.perSecond)} checkouts/s, p50 ${round1(steady.p50)} ms, p99 ${round1(steady.p99)} ms, failed ${steady.failed}`, steady.errors)
  client.close()
  await hub.stop()

  console.log(`reference: pgbench with ${CLIENTS} clients…`)
  const ref = await pgbenchTps(db, { clients: CLIENTS, seconds: SECONDS, serverCpu: dbCpu })
  const refCpu = ref.serverCpuMsPerTxn === null ? null : Math.round(ref.serverCpuMsPerTxn * 100) / 100
  console.log(`  ${round1(ref.tps)} tps (${ref.command}), database server CPU ${refCpu ?? '?'} ms per transaction`)
  // The ratio this machine's cores allow the checkout as it stands: if the hub and the clients cost nothing and the
  // database server had every core to itself, it could write cores × 1000 / (its CPU per checkout) sales a second.
  const cores = os.availableParallelism()
  const dbPerCheckout = perCheckout(dbUsed)
  const ceiling = dbPerCheckout === null ? null : Math.round(((cores * 1000) / dbPerCheckout / ref.tps) * 1000) / 1000
  console.log(`  ratio if the hub cost nothing (database server alone on ${cores} cores): ${ceiling ?? '?'}`)
  const result = {
    checkout_tps: round1(peak.perSecond),
    pgbench_tps: round1(ref.tps),
    ratio: Math.round((peak.perSecond / ref.tps) * 1000) / 1000,
    p50_ms: round1(steady.p50),
    p99_ms: round1(steady.p99),
    peak_p50_ms: round1(peak.p50),
    peak_p99_ms: round1(peak.p99),
    half_load_per_s: round1(steady.perSecond),
    db_cpu_ms_per_checkout: perCheckout(dbUsed),
    hub_cpu_ms_per_checkout: perCheckout(hubUsed),
    client_cpu_ms_per_checkout: perCheckout(clientUsed),
    db_cpu_ms_per_pgbench_txn: refCpu,
    ratio_ceiling_db_only: ceiling,
    cores,
    clients: CLIENTS,
    seconds: SECONDS,
    failed: peak.failed + steady.failed,
  }
  console.log(JSON.stringify(result))
} finally {
  await db.close()
}
