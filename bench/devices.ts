// Receipts through the bridge: the hub (HTTP API + bridge link) in this process, the in-store bridge as its own
// `tillbridge bridge` process, and a simulated ESC/POS printer on TCP (answers DLE EOT, records when each job's
// last byte arrived). Two phases:
//   1. latency: an open loop of cash sales (receipt + drawer kick + display change each) at --rate per second for
//      --seconds; per sale, from its commit (the API's answer) to the last byte of its receipt at the printer.
//   2. throughput: --burst card sales made as fast as 8 tills can; device jobs finished per second, from the first
//      sale's commit to the last job's outcome stored.
// Target: p95 under 300 ms. Usage: npm run bench:devices [-- --rate 10 --seconds 20 --burst 400]
import '@hono/zod-openapi'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import { createMerchantWithAdmin } from '../src/core/merchants/onboard.ts'
import { systemActor } from '../src/core/staff/actor.ts'
import { createApiKey } from '../src/core/staff/api-keys.ts'
import { ensureDefaultTaxCategories } from '../src/core/catalog/tax-categories.ts'
import { createProduct } from '../src/core/catalog/products.ts'
import { applyMovements } from '../src/core/stock/ledger.ts'
import { createRegister, createStore } from '../src/core/stores/service.ts'
import { openSession } from '../src/core/sales/cash-sessions.ts'
import { createDevice } from '../src/core/devices/registry.ts'
import { createApp } from '../src/http/app.ts'
import { listen } from '../src/http/server.ts'
import { startBridgeLinks } from '../src/devices/hub-link.ts'
import { startEscposPrinter, type PrintedJob } from '../src/devices/simulators/escpos-printer.ts'
import { startDisplay } from '../src/devices/simulators/display.ts'
import { loadConfig } from '../src/lib/config.ts'
import { generateSecretKey } from '../src/lib/secrets.ts'
import { openHub } from '../src/runtime.ts'
import { benchDatabase, BIN, freshDatabase, httpClient, logger, percentile, round1 } from './lib.ts'

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '20' },
    burst: { type: 'string', default: '400' },
  },
})
const RATE = Number(args.rate)
const SECONDS = Number(args.seconds)
const BURST = Number(args.burst)
const TILLS = 8
const TARGET_P95_MS = 300

const db = await benchDatabase()
const journal = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-bench-bridge-')), 'journal.jsonl')
try {
  const url = await freshDatabase(db, 'bench_devices')
  const config = loadConfig({ ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', TILLBRIDGE_SECRET_KEY: generateSecretKey() })
  const hub = await openHub(config, { poolSize: 30, logger })
  const printer = await startEscposPrinter()
  const display = await startDisplay()

  const base = await hub.database.db.transaction(async (tx) => {
    const { merchant } = await createMerchantWithAdmin(tx, { name: 'Bench Retail', admin: { email: 'bench@example.com', password: 'bench-password-1' } })
    const actor = systemActor(merchant.id, 'bench')
    const taxes = await ensureDefaultTaxCategories(tx, actor)
    const { store, location, register } = await createStore(tx, actor, { code: 'SH01', name: '上海一店' })
    const registers = [register.id]
    for (let r = 2; r <= TILLS; r++) registers.push((await createRegister(tx, actor, store.id, { code: String(r).padStart(2, '0'), name: `Till ${r}` })).id)
    for (const id of registers) await openSession(tx, actor, { registerId: id, openingFloat: 50_000 })
    const p = await createProduct(tx, actor, { name: '农夫山泉 天然水 550ml', taxCategoryId: taxes[0]!.id, variants: [{ sku: 'WATER-550', price: 200, cost: 90 }] })
    await applyMovements(tx, actor, [{ variantId: p.variants[0]!.id, locationId: location.id, quantity: 1_000_000, kind: 'receipt', causeType: 'receipt' }], { policy: 'allow' })
    // One receipt printer, drawer and display shared by the store's tills (every receipt goes to one printer).
    const rp = await createDevice(tx, actor, { storeId: store.id, name: 'Receipt printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: printer.address })
    await createDevice(tx, actor, { storeId: store.id, name: 'Drawer', kind: 'cash_drawer', driver: 'drawer_via_printer', printerId: rp.id })
    await createDevice(tx, actor, { storeId: store.id, name: 'Pole display', kind: 'customer_display', driver: 'display_tcp', address: display.address })
    const till = await createApiKey(tx, { ...actor, type: 'system' }, { name: 'bench till', role: 'cashier' })
    const bridge = await createApiKey(tx, { ...actor, type: 'system' }, { name: 'bench bridge', role: 'cashier', storeId: store.id })
    return { storeId: store.id, registers, tillKey: till.key, bridgeKey: bridge.key }
  })

  const server = await listen(createApp(hub), { port: 0, host: '127.0.0.1' })
  const links = await startBridgeLinks(hub)
  links.attach(server.server)
  const bridge = spawn(process.execPath, [BIN, 'bridge', '--hub', `http://127.0.0.1:${server.port}`, '--key', base.bridgeKey, '--store', base.storeId, '--journal', journal], {
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  for (let i = 0; links.connected().length === 0; i++) {
    if (i > 600) throw new Error('the bridge did not connect')
    await sleep(50)
  }

  const api = httpClient(server.port, TILLS * 2)
  const receiptAt = new Map<string, number>()
  printer.onPrint((job: PrintedJob) => {
    const m = /SH01-\S+/.exec(job.text)
    if (m) receiptAt.set(m[0], job.at.getTime())
  })
  const sell = async (till: number, cash: boolean) => {
    const res = await api.request(
      'POST',
      '/api/v1/sales',
      { registerId: base.registers[till % TILLS], lines: [{ sku: 'WATER-550', quantity: 1 }], tenders: [{ kind: cash ? 'cash' : 'wechat', amount: cash ? 1000 : 200 }] },
      { authorization: `Bearer ${base.tillKey}` },
    )
    if (res.status !== 201) throw new Error(`sale failed: ${res.status} ${res.body}`)
    return { receiptNo: JSON.parse(res.body).receiptNo as string, committedAt: Date.now() }
  }
  const waitPrinted = async (receipts: string[], timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    while (receipts.some((r) => !receiptAt.has(r))) {
      if (Date.now() > deadline) throw new Error(`${receipts.filter((r) => !receiptAt.has(r)).length} receipts never printed`)
      await sleep(20)
    }
  }

  // ---- 1. latency ------------------------------------------------------------------------------------------------
  console.log(`latency: ${RATE} cash sales/s for ${SECONDS} s through the bridge…`)
  const sales: { receiptNo: string; committedAt: number }[] = []
  const started = Date.now()
  const inFlight: Promise<void>[] = []
  for (let i = 0; i < RATE * SECONDS; i++) {
    const due = started + (i * 1000) / RATE
    const wait = due - Date.now()
    if (wait > 0) await sleep(wait)
    inFlight.push(sell(i, true).then((s) => void sales.push(s)))
  }
  await Promise.all(inFlight)
  await waitPrinted(sales.map((s) => s.receiptNo), 30_000)
  const latencies = sales.map((s) => receiptAt.get(s.receiptNo)! - s.committedAt).sort((a, b) => a - b)
  const p50 = percentile(latencies, 50)
  const p95 = percentile(latencies, 95)
  const p99 = percentile(latencies, 99)
  console.log(`  commit → last receipt byte: p50 ${round1(p50)} ms, p95 ${round1(p95)} ms, p99 ${round1(p99)} ms, max ${latencies.at(-1)} ms`)

  // ---- 2. throughput -------------------------------------------------------------------------------------------
  console.log(`throughput: ${BURST} card sales from ${TILLS} tills as fast as they go…`)
  const openJobs = async () => Number((await hub.database.db.execute(sql`select count(*)::int as n from device_jobs where state in ('queued', 'sent')`)).rows[0]!.n)
  while ((await openJobs()) > 0) await sleep(50)
  const before = Number((await hub.database.db.execute(sql`select count(*)::int as n from device_jobs`)).rows[0]!.n)
  const burstStart = Date.now()
  const burst: { receiptNo: string }[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: TILLS }, async (_, till) => {
      while (next < BURST) {
        next++
        burst.push(await sell(till, false))
      }
    }),
  )
  const salesDone = Date.now()
  await waitPrinted(burst.map((s) => s.receiptNo), 120_000)
  while ((await openJobs()) > 0) await sleep(20)
  const burstEnd = Date.now()
  const jobs = Number((await hub.database.db.execute(sql`select count(*)::int as n from device_jobs`)).rows[0]!.n) - before
  const notDone = Number((await hub.database.db.execute(sql`select count(*)::int as n from device_jobs where state <> 'done'`)).rows[0]!.n)
  const jobsPerS = jobs / ((burstEnd - burstStart) / 1000)
  console.log(`  ${jobs} jobs (receipt + display per sale) in ${(burstEnd - burstStart) / 1000} s (sales took ${(salesDone - burstStart) / 1000} s): ${round1(jobsPerS)} jobs/s`)
  const printedTwice = printer.printed().filter((p) => /SH01-\S+/.test(p.text)).length - sales.length - burst.length

  bridge.kill('SIGTERM')
  await new Promise((r) => bridge.once('exit', r))
  await links.close()
  await server.close(1000)
  api.close()
  await printer.close()
  await display.close()
  await hub.close()
  console.log(
    JSON.stringify({
      p50_ms: round1(p50),
      p95_ms: round1(p95),
      p99_ms: round1(p99),
      target_p95_ms: TARGET_P95_MS,
      met: p95 < TARGET_P95_MS,
      jobs_per_s: round1(jobsPerS),
      sales_latency_phase: sales.length,
      sales_burst: burst.length,
      jobs_burst: jobs,
      jobs_not_done: notDone,
      receipts_printed_twice: printedTwice,
      drawer_kicks: printer.drawerKicks.length,
    }),
  )
} finally {
  fs.rmSync(path.dirname(journal), { recursive: true, force: true })
  await db.close()
}
