// Settlement reconciliation end to end: a business day of N WeChat Pay payments at the till against WeChat's ALL
// trade bill for that day (gzipped, as downloadbill sends it), with a few differences planted. Timed: parse and
// streamed import of the bill, then matching in SQL; with the peak memory of the process that does it, at N rows and
// at 100,000 rows, so that memory growing with the file shows. Every outcome is counted and checked against what was
// planted. The database's own speed at writing rows of the same shape is the reference.
// Usage: npm run bench:reconcile [-- --rows 1000000 --small 100000 --statements --profile --no-reference]
// --small defaults to 100,000 rows, or a tenth of --rows when that is less than a million.
// --statements: where the database spent its time (pg_stat_statements); --profile: a V8 CPU profile of each measured
// run in scratch/prof/ (node --cpu-prof).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import { openDatabase } from '../src/db/client.ts'
import { migrate } from '../src/db/migrate.ts'
import { createMerchantWithAdmin } from '../src/core/merchants/onboard.ts'
import { systemActor } from '../src/core/staff/actor.ts'
import { createStore } from '../src/core/stores/service.ts'
import { createConnection } from '../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../src/connectors/index.ts'
import { contentOnDisk } from '../src/core/reconciliation/file.ts'
import { importFile, reconcileConnectionDay } from '../src/jobs/reconciliation.ts'
import { loadConfig } from '../src/lib/config.ts'
import { createSecretBox, generateSecretKey } from '../src/lib/secrets.ts'
import { openHub } from '../src/runtime.ts'
import { wechatBillStream, type WechatBillRow } from '../src/sandboxes/vendors/wechatpay.ts'
import { benchDatabase, freshDatabase, logger, resetStatements, round1, topStatements } from './lib.ts'

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    small: { type: 'string' },
    statements: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'no-reference': { type: 'boolean', default: false },
    // Internal: the measured run, in a process of its own (see measure()).
    child: { type: 'string' },
  },
})

const BUSINESS_DATE = '2026-03-14'
/** The till's day: 08:00 to 22:00 China Standard Time, clear of midnight so no line spills into another day. */
const DAY_START_MS = Date.parse('2026-03-14T08:00:00+08:00')
const DAY_SPAN_MS = 14 * 3600_000
const FEE_RATE_BP = 60
const CONNECTION_CONFIG = { apiVersion: 'v2', mchId: '1900000109', appId: 'wx8888888888888888', apiKey: 'BenchKey0123456789abcdefghijklmn', feeRateBp: FEE_RATE_BP }
/** How many of each planted difference. */
const PLANT = 10

// The same rules in SQL (for the till) and in JS (for the bill), so the two sides agree row for row.
const amountOf = (i: number) => 100 + ((i * 7919) % 49_900)
const paymentNo = (i: number) => `TB260314120000${String(i).padStart(8, '0')}`
const occurredMs = (i: number, n: number) => DAY_START_MS + Math.floor((i * DAY_SPAN_MS) / n)

/** Which till payments the bill gets wrong, and how. Disjoint, spread over the day. */
function plan(n: number) {
  const stride = Math.floor(n / (6 * PLANT))
  const pick = (c: number) => new Set(Array.from({ length: PLANT }, (_, j) => (c * PLANT + j) * stride + 7))
  return { amount: pick(0), revoked: pick(1), fee: pick(2), missing: pick(3), twice: pick(4) }
}

/** What reconcileDay must report for that plan. */
function expectedCounts(n: number): Record<string, number> {
  return {
    matched: n - 4 * PLANT, // all but the wrong amount, the revoked, the wrong fee and the missing
    amount_diff: PLANT,
    status_diff: PLANT,
    fee_diff: PLANT,
    timing: PLANT, // not in the bill of its own day: carried over, not yet missing
    duplicate: PLANT,
    missing_in_pos: PLANT,
    unknown_merchant_ref: PLANT,
    missing_in_channel: 0,
    currency_diff: 0,
  }
}

/** The bill's rows, made one at a time as the generator asks for them: a million never exist at once. */
function* billRows(n: number): Generator<WechatBillRow> {
  const p = plan(n)
  const at = (i: number) => new Date(occurredMs(i, n) + 1000)
  for (let i = 0; i < n; i++) {
    if (p.missing.has(i)) continue
    const amount = amountOf(i)
    const row: WechatBillRow = { kind: 'payment', at: at(i), outTradeNo: paymentNo(i), amount }
    if (p.amount.has(i)) row.amount = amount - 1
    if (p.revoked.has(i)) row.status = 'REVOKED'
    if (p.fee.has(i)) row.feeMilli = Math.floor((amount * FEE_RATE_BP + 5) / 10) + 5_000
    yield row
    if (p.twice.has(i)) yield { ...row, at: new Date(at(i).getTime() + 60_000) }
  }
  // Money the till never recorded: our kind of number, and a reference that is not ours at all.
  for (let j = 0; j < PLANT; j++) {
    const when = new Date(DAY_START_MS + DAY_SPAN_MS - 600_000 + j * 1000)
    yield { kind: 'payment', at: when, outTradeNo: `TB260314999999${String(j).padStart(8, '0')}`, amount: 1234 + j }
    yield { kind: 'payment', at: when, outTradeNo: `MINIAPP-${j}`, amount: 2345 + j }
  }
}

interface Seeded {
  url: string
  merchantId: string
  connectionId: string
  billFile: string
  billBytes: number
}

/**
 * The till's side, straight in SQL: the subject here is reconciliation, not checkout (bench/checkout.ts measures that
 * through the API), and a million sales through the API would take longer than the bench itself. The rows carry
 * exactly what checkout writes for a WeChat payment that reconciliation reads: the sale, and its tender with the
 * payment number that was sent to WeChat as out_trade_no.
 */
async function seed(url: string, n: number, dir: string, secretKey: string): Promise<Seeded> {
  const database = openDatabase(url, { logger, max: 2 })
  try {
    await migrate(database.pool, logger)
    const secrets = createSecretBox(secretKey)
    const { merchantId, storeId, registerId, connectionId } = await database.db.transaction(async (tx) => {
      const { merchant } = await createMerchantWithAdmin(tx, { name: 'Bench Retail', admin: { email: 'bench@example.com', password: 'bench-password-1' } })
      const actor = systemActor(merchant.id, 'bench')
      const { store, register } = await createStore(tx, actor, { code: 'SH01', name: '上海一店' })
      const connection = await createConnection(tx, connectorRegistry, secrets, merchant.id, { connectorId: 'wechatpay', name: 'WeChat Pay', config: CONNECTION_CONFIG }, new Date())
      return { merchantId: merchant.id, storeId: store.id, registerId: register.id, connectionId: connection.id }
    })
    // Time-ordered ids in the UUIDv7 layout, as the hub makes them: the sale's instant, then the row number where v7
    // has random bits (gen_random_uuid() for a million rows would cost more than the rest of the seeding).
    const v7 = (variant: '8' | '9') => sql.raw(`(lpad(to_hex(ms), 12, '0') || '7000${variant}' || lpad(to_hex(i), 15, '0'))::uuid`)
    await database.db.execute(sql`
      create unlogged table bench_seed as
      select i, ms, ${v7('8')} as sale_id, ${v7('9')} as tender_id
        from (select i, ${sql.raw(String(DAY_START_MS))}::bigint + (i::bigint * ${sql.raw(String(DAY_SPAN_MS))}) / ${sql.raw(String(n))} as ms
                from generate_series(0, ${sql.raw(String(n - 1))}) i) g`)
    await database.db.execute(sql`
      insert into sales (id, merchant_id, store_id, register_id, receipt_no, business_date, status, currency, tax_inclusive, gross_total,
                         discount_total, tax_total, total, cashier_type, occurred_at, created_at)
      select sale_id, ${merchantId}, ${storeId}, ${registerId}, 'SH01-20260314-01-' || lpad(i::text, 7, '0'), ${BUSINESS_DATE}::date, 'completed', 'CNY',
             true, 100 + (i::bigint * 7919) % 49900, 0, 0, 100 + (i::bigint * 7919) % 49900, 'system', to_timestamp(ms / 1000.0), to_timestamp(ms / 1000.0)
        from bench_seed order by i`)
    await database.db.execute(sql`
      insert into sale_tenders (id, merchant_id, sale_id, kind, amount, payment_no, status)
      select tender_id, ${merchantId}, sale_id, 'wechat', 100 + (i::bigint * 7919) % 49900, 'TB260314120000' || lpad(i::text, 8, '0'), 'captured'
        from bench_seed order by i`)
    await database.db.execute(sql`drop table bench_seed`)
    await database.db.execute(sql`vacuum analyze sales`)
    await database.db.execute(sql`vacuum analyze sale_tenders`)
    // The seeding's million sales and tenders written out now, as the day's checkpoints would have written a till's
    // day long before its bill comes: otherwise the measured run pays for writing them to get buffers.
    await database.db.execute(sql`checkpoint`)
    // A spot check that the two sides follow the same rules.
    const probe = Math.floor(n / 3)
    const [row] = (await database.db.execute<{ amount: number; payment_no: string }>(sql`
      select t.amount, t.payment_no from sale_tenders t join sales s on s.id = t.sale_id where t.payment_no = ${paymentNo(probe)}`)).rows
    if (!row || Number(row.amount) !== amountOf(probe)) throw new Error(`seeded tender ${paymentNo(probe)} is ${JSON.stringify(row)}, expected ${amountOf(probe)} fen`)

    const billFile = path.join(dir, `wechat-all-${n}.csv.gz`)
    await pipeline(wechatBillStream({ rows: billRows(n), variant: 'ALL', feeRateBp: FEE_RATE_BP, mchId: CONNECTION_CONFIG.mchId, appId: CONNECTION_CONFIG.appId, gzip: true }), fs.createWriteStream(billFile))
    return { url, merchantId, connectionId, billFile, billBytes: fs.statSync(billFile).size }
  } finally {
    await database.close()
  }
}

interface Measured {
  rows: number
  lines: number
  import_s: number
  match_s: number
  total_s: number
  peak_rss_mb: number
  sampled_peak_rss_mb: number
  /** The sampled peak by the end of the import, before matching. */
  import_peak_rss_mb: number
  baseline_rss_mb: number
  import_status: string
  run_status: string
  counts: Record<string, number>
  totals: Record<string, number>
}

/**
 * The measured run, in a fresh Node process so that its peak memory is its own: neither the seeding nor the bill
 * generator nor a previous run of another size is counted in it. It goes the way `tillbridge reconcile import --file`
 * goes (src/cli/reconcile.ts, src/jobs/reconciliation.ts): the file is read from disk as a stream while the
 * connection's connector parses it and the core imports it, then the day is reconciled with the channel's rules. RSS is sampled every 50 ms, and the kernel's high-water mark (getrusage
 * maxrss) catches what falls between samples.
 */
async function childRun(spec: Seeded & { rows: number }): Promise<Measured> {
  let sampled = process.memoryUsage().rss
  const baseline = sampled
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss)
  }, 50)
  // The secret key comes in the environment (TILLBRIDGE_SECRET_KEY), as it does for the hub.
  const hub = await openHub(loadConfig({ ...process.env, DATABASE_URL: spec.url, LOG_LEVEL: 'warn' }), { migrate: false, poolSize: 2, logger })
  try {
    const started = performance.now()
    const imported = await importFile(hub, {
      connectionId: spec.connectionId,
      businessDate: BUSINESS_DATE,
      format: 'wechat_trade',
      fileName: path.basename(spec.billFile),
      content: contentOnDisk(spec.billFile),
      contentType: 'application/gzip',
      source: 'uploaded',
    })
    const importedAt = performance.now()
    const importPeak = Math.max(sampled, process.memoryUsage().rss)
    if (imported.status !== 'imported') throw new Error(`the bill was not imported: ${JSON.stringify(imported)}`)
    const run = await reconcileConnectionDay(hub, { connectionId: spec.connectionId, businessDate: BUSINESS_DATE })
    const done = performance.now()
    clearInterval(sampler)
    sampled = Math.max(sampled, process.memoryUsage().rss)
    const maxRss = process.resourceUsage().maxRSS * 1024
    const mb = (b: number) => round1(b / 2 ** 20)
    return {
      rows: spec.rows,
      lines: imported.lineCount,
      import_s: Math.round(importedAt - started) / 1000,
      match_s: Math.round(done - importedAt) / 1000,
      total_s: Math.round(done - started) / 1000,
      peak_rss_mb: mb(Math.max(sampled, maxRss)),
      sampled_peak_rss_mb: mb(sampled),
      import_peak_rss_mb: mb(importPeak),
      baseline_rss_mb: mb(baseline),
      import_status: imported.status,
      run_status: run.status,
      counts: run.counts,
      totals: run.totals,
    }
  } finally {
    clearInterval(sampler)
    await hub.close()
  }
}

function measure(spec: Seeded & { rows: number }, secretKey: string, profileDir?: string): Promise<Measured> {
  const self = fileURLToPath(import.meta.url)
  const flags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=reconcile-${spec.rows}.cpuprofile`] : []
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...flags, self, '--child', JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, TILLBRIDGE_SECRET_KEY: secretKey },
    })
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    child.once('error', reject)
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? ''
      if (code !== 0) return reject(new Error(`the measured run of ${spec.rows} rows failed (exit ${code})\n${out}`))
      resolve(JSON.parse(last) as Measured)
    })
  })
}

/** The database alone writing N rows of settlement_lines' shape (same indexes), generated server-side: the ceiling. */
async function reference(url: string, n: number): Promise<number> {
  const database = openDatabase(url, { logger, max: 1 })
  try {
    await database.db.execute(sql`create table bench_ref_lines (like settlement_lines including defaults including identity including indexes)`)
    const started = performance.now()
    await database.db.execute(sql`
      insert into bench_ref_lines (merchant_id, statement_id, connection_id, business_date, line_no, kind, our_ref, channel_txn_id, currency, amount,
                                   fee_milli, status, occurred_at, terminal_ref)
      select '00000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002', ${BUSINESS_DATE}::date, i + 2, 'payment',
             'TB260314120000' || lpad(i::text, 8, '0'), '4200002026' || lpad(i::text, 18, '0'), 'CNY', 100 + (i::bigint * 7919) % 49900,
             (100 + (i::bigint * 7919) % 49900) * 6, 'SUCCESS', now(), null
        from generate_series(0, ${sql.raw(String(n - 1))}) i`)
    const seconds = (performance.now() - started) / 1000
    await database.db.execute(sql`drop table bench_ref_lines`)
    return n / seconds
  } finally {
    await database.close()
  }
}

function differences(got: Record<string, number>, want: Record<string, number>): string[] {
  return Object.entries(want)
    .filter(([k, v]) => (got[k] ?? 0) !== v)
    .map(([k, v]) => `${k}: ${got[k] ?? 0}, planted ${v}`)
}

if (args.child) {
  const result = await childRun(JSON.parse(args.child))
  console.log(JSON.stringify(result))
} else {
  const ROWS = Number(args.rows)
  const SMALL = args.small ? Number(args.small) : Math.min(100_000, Math.floor(ROWS / 10))
  if (!Number.isInteger(ROWS) || ROWS < 6 * PLANT * 2) throw new Error(`--rows must be a whole number of at least ${6 * PLANT * 2}`)
  const sizes = [...new Set([SMALL, ROWS].filter((n) => Number.isInteger(n) && n >= 6 * PLANT * 2))].sort((a, b) => a - b)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-bench-reconcile-'))
  const profileDir = args.profile ? fileURLToPath(new URL('../scratch/prof/', import.meta.url)) : undefined
  const db = await benchDatabase({ statements: args.statements })
  const secretKey = generateSecretKey()
  try {
    const results = new Map<number, Measured>()
    let refUrl = ''
    for (const n of sizes) {
      const url = await freshDatabase(db, `tillbridge_bench_reconcile_${n}`)
      console.log(`${n.toLocaleString('en')} rows: seeding the till's payments in SQL and writing WeChat's ALL bill…`)
      let t = performance.now()
      const seeded = await seed(url, n, dir, secretKey)
      console.log(`  seeded in ${round1((performance.now() - t) / 1000)} s; bill ${(seeded.billBytes / 2 ** 20).toFixed(1)} MB gzipped`)
      if (args.statements) await resetStatements(url)
      t = performance.now()
      const m = await measure({ ...seeded, rows: n }, secretKey, profileDir)
      if (args.statements) await topStatements(url)
      const rate = n / m.total_s
      console.log(
        `  parse + import ${m.import_s} s, match ${m.match_s} s: ${Math.round(rate).toLocaleString('en')} rows/s end to end; ` +
          `peak RSS ${m.peak_rss_mb} MB (sampled ${m.sampled_peak_rss_mb} MB, ${m.import_peak_rss_mb} MB by the end of the import, ${m.baseline_rss_mb} MB at start)`,
      )
      console.log(`  outcomes: ${Object.entries(m.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`)
      const wrong = differences(m.counts, expectedCounts(n))
      console.log(wrong.length ? `  WRONG: ${wrong.join('; ')}` : `  every planted difference found, nothing else`)
      results.set(n, m)
      refUrl = url
      fs.rmSync(seeded.billFile, { force: true })
    }
    let refRate: number | null = null
    if (!args['no-reference']) {
      console.log(`reference: the database writing ${ROWS.toLocaleString('en')} rows of settlement_lines' shape from generate_series…`)
      refRate = await reference(refUrl, ROWS)
      console.log(`  ${Math.round(refRate).toLocaleString('en')} rows/s`)
    }
    const big = results.get(ROWS)!
    const small = results.get(SMALL)
    const correct = [...results].every(([n, m]) => differences(m.counts, expectedCounts(n)).length === 0)
    const result = {
      rows: ROWS,
      rows_per_s: Math.round(ROWS / big.total_s),
      import_s: big.import_s,
      match_s: big.match_s,
      total_s: big.total_s,
      peak_rss_mb: big.peak_rss_mb,
      peak_rss_mb_100k: small?.peak_rss_mb ?? null,
      // What the process held before reading the bill (Node, the hub's modules, a pool): part of both peaks.
      rss_at_start_mb: big.baseline_rss_mb,
      rows_small: small ? SMALL : null,
      rows_per_s_small: small ? Math.round(SMALL / small.total_s) : null,
      bill_lines: big.lines,
      counts: Object.fromEntries(Object.entries(big.counts).filter(([, v]) => v !== 0)),
      correct,
      reference_rows_per_s: refRate === null ? null : Math.round(refRate),
    }
    console.log(JSON.stringify(result))
    if (!correct) process.exitCode = 1
  } finally {
    await db.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
