// Inbound webhooks over real HTTP: how many signed Stripe events per second `POST /webhooks/{connectionId}`
// accepts, how fast it answers, and how long an accepted event waits until the worker (in the same `serve` process)
// has processed it. pgbench's TPC-B-like TPS on the same server is the reference.
// Usage: npm run bench:webhooks [-- --seconds 20 --senders 32 --workers 8 --statements --waits --api-only]
// --statements: where the database spent its time per statement; --waits: what its sessions waited on during the
// load; --api-only: the accept path alone (the hub runs `api`, nothing is processed, process latency is not measured).
import http from 'node:http'
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import { openDatabase } from '../src/db/client.ts'
import { migrate } from '../src/db/migrate.ts'
import { createMerchantWithAdmin } from '../src/core/merchants/onboard.ts'
import { createConnection } from '../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../src/connectors/index.ts'
import { stripeSignature } from '../src/connectors/payment/stripe/webhook.ts'
import { createSecretBox, generateSecretKey } from '../src/lib/secrets.ts'
import { benchDatabase, closedLoop, freshDatabase, logger, pgbenchTps, resetStatements, round1, startHub, topStatements } from './lib.ts'

const { values: args } = parseArgs({
  options: {
    statements: { type: 'boolean', default: false },
    waits: { type: 'boolean', default: false },
    'api-only': { type: 'boolean', default: false },
    seconds: { type: 'string', default: '20' },
    senders: { type: 'string', default: '32' },
    workers: { type: 'string', default: '8' },
    'pgbench-seconds': { type: 'string', default: '10' },
  },
})
const SECONDS = Number(args.seconds)
const SENDERS = Number(args.senders)
const WORKERS = Number(args.workers)
const API_ONLY = args['api-only']
const WEBHOOK_SECRET = 'whsec_benchSigningSecret0123456789abcdef'

/** A Stripe event of realistic size (~1 KiB), unique per sender and sequence number. */
function stripeEvent(id: string, n: number): string {
  return JSON.stringify({
    id,
    object: 'event',
    api_version: '2025-09-30.clover',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: `req_${id.slice(4)}`, idempotency_key: null },
    type: 'payment_intent.succeeded',
    data: {
      object: {
        id: `pi_${id.slice(4)}`,
        object: 'payment_intent',
        amount: 100 + (n % 9900),
        amount_received: 100 + (n % 9900),
        currency: 'cny',
        customer: null,
        description: `Order #${n}`,
        latest_charge: `ch_${id.slice(4)}`,
        metadata: { order_id: String(n), store: 'B0' },
        payment_method_types: ['card', 'wechat_pay', 'alipay'],
        status: 'succeeded',
      },
    },
  })
}

/** Samples pg_stat_activity every 50 ms: the wait events of the sessions busy on this database, as shares of samples. */
async function sampleWaits(probe: ReturnType<typeof openDatabase>, ms: number) {
  const counts = new Map<string, number>()
  let samples = 0
  const end = Date.now() + ms
  while (Date.now() < end) {
    const r = await probe.db.execute<{ k: string; n: number }>(sql`
      select coalesce(wait_event_type || ':' || wait_event, 'on CPU') || ' (' || left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 40) || ')' as k, count(*)::int as n
        from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state = 'active' group by 1`)
    for (const row of r.rows) counts.set(row.k, (counts.get(row.k) ?? 0) + row.n)
    samples++
    await new Promise((res) => setTimeout(res, 50))
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([wait, n]) => ({ wait, 'sessions (avg)': round1(n / samples) }))
}

const db = await benchDatabase({ statements: args.statements })
try {
  const url = await freshDatabase(db, 'tillbridge_bench_webhooks')
  const database = openDatabase(url, { logger, max: 4 })
  await migrate(database.pool, logger)
  const secretKey = generateSecretKey()
  const secrets = createSecretBox(secretKey)
  const connectionId = await database.db.transaction(async (tx) => {
    const { merchant } = await createMerchantWithAdmin(tx, { name: 'Bench Webhooks', admin: { email: 'bench@example.com', password: 'bench-password-1' } })
    const conn = await createConnection(tx, connectorRegistry, secrets, merchant.id, { connectorId: 'stripe', name: 'Stripe', config: { secretKey: 'sk_test_bench0123456789', webhookSecret: WEBHOOK_SECRET } }, new Date())
    return conn.id
  })
  await database.close()

  const hub = await startHub(API_ONLY ? 'api' : 'serve', { DATABASE_URL: url, TILLBRIDGE_SECRET_KEY: secretKey, WORKER_CONCURRENCY: String(WORKERS) })
  const agent = new http.Agent({ keepAlive: true, maxSockets: SENDERS * 2 })
  const post = (body: string): Promise<number> => {
    const t = Math.floor(Date.now() / 1000)
    const payload = Buffer.from(body)
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: hub.port,
          method: 'POST',
          path: `/webhooks/${connectionId}`,
          agent,
          headers: { 'content-type': 'application/json', 'content-length': payload.length, 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)', 'stripe-signature': `t=${t},v1=${stripeSignature(WEBHOOK_SECRET, t, payload)}` },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      req.end(payload)
    })
  }
  const sender = (prefix: string) => async (worker: number, i: number): Promise<boolean | string> => {
    const status = await post(stripeEvent(`evt_${prefix}_${worker}_${i}`, i))
    return status === 200 ? true : `HTTP ${status}`
  }

  console.log(`warming up (${SENDERS} senders, 3 s)…`)
  await closedLoop(3, SENDERS, sender('w'))
  const probe = openDatabase(url, { logger, max: 2 })
  const waitProcessed = async (prefix: string, expected: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const r = await probe.db.execute<{ n: number }>(sql`select count(*)::int as n from inbound_webhooks where vendor_event_id like ${`evt_${prefix}_%`} and processed_at is not null`)
      if (r.rows[0]!.n >= expected || Date.now() > deadline) return r.rows[0]!.n
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const warmedUp = await probe.db.execute<{ n: number }>(sql`select count(*)::int as n from inbound_webhooks`)
  if (!API_ONLY) await waitProcessed('w', warmedUp.rows[0]!.n, 60_000)
  if (args.statements) await resetStatements(url)

  console.log(`load: ${SENDERS} concurrent senders, distinct signed events, ${SECONDS} s, worker concurrency ${WORKERS}…`)
  const sampling = args.waits ? sampleWaits(probe, SECONDS * 1000) : undefined
  const load = await closedLoop(SECONDS, SENDERS, sender('m'))
  if (sampling) console.table(await sampling)
  console.log(`  accepted ${load.done} (${round1(load.perSecond)}/s), p50 ${round1(load.p50)} ms, p99 ${round1(load.p99)} ms, failed ${load.failed}`, load.errors)

  const stored = (await probe.db.execute<{ n: number }>(sql`select count(*)::int as n from inbound_webhooks where vendor_event_id like 'evt_m_%'`)).rows[0]!.n
  let processing = { processed: 0, p50: null as number | null, p99: null as number | null, perSecond: null as number | null }
  if (!API_ONLY) {
    console.log('waiting for the worker to process every accepted event…')
    const processed = await waitProcessed('m', load.done, 120_000)
    // received_at and processed_at are both written by the hub's clock: no clock skew between them.
    const lat = await probe.db.execute<{ p50: number; p99: number; span_s: number }>(sql`
      select percentile_cont(0.5) within group (order by ms) as p50, percentile_cont(0.99) within group (order by ms) as p99,
             extract(epoch from max(processed_at) - min(received_at))::float8 as span_s
        from (select extract(epoch from processed_at - received_at) * 1000 as ms, processed_at, received_at
                from inbound_webhooks where vendor_event_id like 'evt_m_%' and processed_at is not null) t`)
    const r = lat.rows[0]!
    processing = { processed, p50: round1(r.p50), p99: round1(r.p99), perSecond: round1(processed / r.span_s) }
    console.log(`  stored ${stored}, processed ${processed}; acceptance→processed p50 ${processing.p50} ms, p99 ${processing.p99} ms; ${processing.perSecond} processed/s over the run`)
  }
  if (args.statements) await topStatements(url)
  await probe.close()
  agent.destroy()
  await hub.stop()

  console.log(`reference: pgbench with ${SENDERS} clients…`)
  const ref = await pgbenchTps(db, { clients: SENDERS, seconds: Number(args['pgbench-seconds']) })
  console.log(`  ${round1(ref.tps)} tps (${ref.command})`)
  const result = {
    accepted_per_s: round1(load.perSecond),
    p50_accept_ms: round1(load.p50),
    p99_accept_ms: round1(load.p99),
    p50_process_ms: processing.p50,
    p99_process_ms: processing.p99,
    processed_per_s: processing.perSecond,
    accepted: load.done,
    stored,
    processed: processing.processed,
    failed: load.failed,
    senders: SENDERS,
    workers: API_ONLY ? 0 : WORKERS,
    seconds: SECONDS,
    pgbench_tps: round1(ref.tps),
  }
  console.log(JSON.stringify(result))
} finally {
  await db.close()
}
