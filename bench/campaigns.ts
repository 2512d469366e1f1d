// A campaign to a large segment: N members (default 200,000) seeded in SQL, an Alibaba Cloud SMS connection pointed
// at the Aliyun sandbox (msw, a generous QPS and a small latency), and sendCampaign run in this process as the
// campaigns.send job runs it: snapshot, then claim → SendBatchSms → record, batch after batch. Measured: recipients
// per second, the snapshot, and the time inside the claim and record transactions per 1,000 recipients (the hub's
// database share), apart from the time the vendor took. Every consenting, unsuppressed member must get exactly one
// message and nobody else any. Target: the hub is never the bottleneck below the vendor's rate (≥ 2,000/s).
// Usage: npm run bench:campaigns [-- --members 200000 --latency 20 --qps 5000 --explain --statements]
// --explain: EXPLAIN (ANALYZE, BUFFERS) of each statement of one claim → record cycle on the full pending run;
// --statements: where the database spent its time during the send (pg_stat_statements).
// First: it extends zod with .openapi(), which the HTTP routes call on schemas the core modules below define.
import '@hono/zod-openapi'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { getResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { sql, type SQL } from 'drizzle-orm'
import type { Db, Tx } from '../src/db/client.ts'
import { createMerchantWithAdmin } from '../src/core/merchants/onboard.ts'
import { systemActor } from '../src/core/staff/actor.ts'
import { createTier } from '../src/core/members/tiers.ts'
import { claimBatch, createCampaign, createSegment, getCampaign, recordOutcomes } from '../src/core/campaigns/service.ts'
import { createConnection } from '../src/connectors/framework/connections.ts'
import { createRegistry } from '../src/connectors/framework/registry.ts'
import type { CampaignCapabilities } from '../src/connectors/framework/campaign.ts'
import { aliyunSms } from '../src/connectors/campaign/aliyun-sms/index.ts'
import { sendCampaign } from '../src/jobs/campaigns.ts'
import { loadConfig } from '../src/lib/config.ts'
import { generateSecretKey } from '../src/lib/secrets.ts'
import { openHub, type Hub } from '../src/runtime.ts'
import { aliyunSmsSandbox } from '../src/sandboxes/vendors/aliyun-sms.ts'
import { benchDatabase, freshDatabase, logger, resetStatements, round1, topStatements } from './lib.ts'

const { values: args } = parseArgs({
  options: {
    members: { type: 'string', default: '200000' },
    /** The vendor's answer time per SendBatchSms call, ms. */
    latency: { type: 'string', default: '20' },
    /** The vendor's rate: calls per second the sandbox takes, and the connection's maxPerSecond (messages). */
    qps: { type: 'string', default: '5000' },
    explain: { type: 'boolean', default: false },
    statements: { type: 'boolean', default: false },
  },
})

const N = Number(args.members)
const LATENCY_MS = Number(args.latency)
const QPS = Number(args.qps)
if (!Number.isInteger(N) || N < 1000 || N > 99_999_999) throw new Error('--members must be a whole number from 1,000')
const TARGET = 2000
/** Every 20th member never consented to SMS; every 250th address is on the suppression list. */
const NO_CONSENT = (i: number) => i % 20 === 7
const SUPPRESSED = (i: number) => i % 250 === 3
const phoneOf = (i: number) => `+86138${String(i).padStart(8, '0')}`
const ACCESS_KEY_ID = 'LTAI5tBenchCampaigns01'
const ACCESS_KEY_SECRET = 'benchAccessKeySecret0123456789'
const SIGN_NAME = '天桥百货'
const TEMPLATE = 'SMS_480012345'
const TEMPLATE_TEXT = '${name}您好，您的${tier}卡${cardNo}有${points}积分，春季会员日全场九折。拒收请回复R'
const ENDPOINT = 'https://dysmsapi.bench.test'
const secs = (ms: number) => Math.round(ms) / 1000

/** Time spent in db.transaction, by what the transaction was for (the send loop alternates claim and record). */
interface TxClock {
  snapshot: number
  claim: number[]
  record: number[]
  other: number
}

/**
 * The hub as sendCampaign sees it, with db.transaction timed: the first transaction is the snapshot, one that starts
 * after a sendBatch returned records its outcomes, any other claims (the last, empty claim and the status update
 * count as claims: two of them).
 */
function timedHub(hub: Hub, clock: TxClock, state: { afterSend: boolean; transactions: number }): Hub {
  const db = hub.database.db
  const timed = new Proxy(db, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target)
      if (prop !== 'transaction') return typeof v === 'function' ? v.bind(target) : v
      return async (fn: (tx: Tx) => Promise<unknown>, config?: unknown) => {
        const kind = state.transactions++ === 0 ? 'snapshot' : state.afterSend ? 'record' : 'claim'
        state.afterSend = false
        const t0 = performance.now()
        try {
          return await (target.transaction as (f: typeof fn, c?: unknown) => Promise<unknown>)(fn, config)
        } finally {
          const ms = performance.now() - t0
          if (kind === 'snapshot') clock.snapshot += ms
          else clock[kind].push(ms)
        }
      }
    },
  }) as Db
  return { ...hub, database: { ...hub.database, db: timed } }
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of every statement of one claim → record cycle (claimBatch's select and updates, then
 * recordOutcomes' update as if the vendor took them all), caught on their way to the database and rolled back.
 */
async function explainCycle(db: Db, merchantId: string, campaignId: string, limit: number): Promise<string[]> {
  const plans: string[] = []
  const done = new Error('explained')
  try {
    await db.transaction(async (tx) => {
      const spy = new Proxy(tx, {
        get(target, prop, receiver) {
          if (prop !== 'execute') return Reflect.get(target, prop, receiver)
          return async (q: SQL) => {
            const r = await target.execute(sql`explain (analyze, buffers) ${q}`)
            plans.push((r.rows as { 'QUERY PLAN': string }[]).map((x) => x['QUERY PLAN']).join('\n'))
            // EXPLAIN ANALYZE has run an update already; a select is run again for its rows (locked by us by now).
            return /^(Update|Insert|Delete) on /.test(plans.at(-1)!) ? { rows: [], rowCount: 0 } : target.execute(q)
          }
        },
      })
      const campaign = await getCampaign(tx, merchantId, campaignId)
      const claimed = await claimBatch(spy as Tx, campaign, 'once', limit, new Date())
      await recordOutcomes(spy as Tx, campaign, claimed.map((d, i) => ({ deliveryId: d.id, status: 'accepted', vendorMessageId: `bench:${i}` })), new Date())
      throw done
    })
  } catch (e) {
    if (e !== done) throw e
  }
  return plans
}

const db = await benchDatabase({ statements: args.statements })
const server = setupServer()
try {
  const url = await freshDatabase(db, 'tillbridge_bench_campaigns')
  const config = loadConfig({ ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', TILLBRIDGE_SECRET_KEY: generateSecretKey() })
  const hub = await openHub(config, { poolSize: 10, logger })

  // ---- the vendor ----------------------------------------------------------------------------------------------
  // The sandbox answers at once; its latency is served here, in front of it, and the sandbox is asked from here, so the
  // time the vendor took (latency and the sandbox's own work) is known.
  const sandbox = aliyunSmsSandbox({ endpoint: ENDPOINT, accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET, signNames: [SIGN_NAME], templates: { [TEMPLATE]: TEMPLATE_TEXT }, qps: QPS })
  const vendor = { calls: 0, ms: 0, arrived: 0, left: 0 }
  server.listen({ onUnhandledFrame: 'error' })
  server.resetHandlers(
    http.post(`${ENDPOINT}/`, async ({ request }) => {
      const t0 = performance.now()
      vendor.calls++
      vendor.arrived = t0
      if (LATENCY_MS > 0) await sleep(LATENCY_MS)
      const res = await getResponse(sandbox.handlers, request)
      vendor.left = performance.now()
      vendor.ms += vendor.left - t0
      return res
    }),
  )

  // The connector as registered, with its sendBatch timed: in all, before the request reaches the vendor, and after the
  // vendor answered; and the progress of the send, every tenth of the recipients.
  const connector = { ms: 0, before: 0, after: 0 }
  const progress = { recipients: 0, tenth: 0, started: 0 }
  const caps = aliyunSms.capabilities as CampaignCapabilities<any>
  const timedConnector = {
    ...aliyunSms,
    capabilities: {
      ...caps,
      sendBatch: async (ctx: Parameters<typeof caps.sendBatch>[0], input: Parameters<typeof caps.sendBatch>[1]) => {
        const t0 = performance.now()
        try {
          return await caps.sendBatch(ctx, input)
        } finally {
          const t1 = performance.now()
          connector.ms += t1 - t0
          if (vendor.arrived >= t0) {
            connector.before += vendor.arrived - t0
            connector.after += t1 - vendor.left
          }
          txState.afterSend = true
          progress.recipients += input.recipients.length
          if (Math.floor((progress.recipients * 10) / N) > progress.tenth) {
            progress.tenth = Math.floor((progress.recipients * 10) / N)
            console.log(`  ${progress.recipients.toLocaleString('en')} messages sent after ${secs(t1 - progress.started)} s`)
          }
        }
      },
    },
  }
  const registry = createRegistry([timedConnector as typeof aliyunSms])

  // ---- the merchant and its members ----------------------------------------------------------------------------
  let t = performance.now()
  console.log(`seeding ${N.toLocaleString('en')} members in SQL…`)
  const at = new Date()
  const base = await hub.database.db.transaction(async (tx) => {
    const { merchant } = await createMerchantWithAdmin(tx, { name: 'Bench Retail', timeZone: 'Asia/Shanghai', admin: { email: 'bench@example.com', password: 'bench-password-1' } })
    const actor = systemActor(merchant.id, 'bench')
    const tiers = []
    for (const [rank, code, name] of [[1, 'normal', '普通会员'], [2, 'silver', '银卡会员'], [3, 'gold', '金卡会员']] as const) tiers.push((await createTier(tx, actor, { code, name, rank, minSpend: (rank - 1) * 100_000 })).id)
    return { merchantId: merchant.id, tiers }
  })
  const { merchantId } = base
  const ex = (q: SQL) => hub.database.db.execute(q)
  // Ids UUIDv7-shaped (creation order, then a namespace and the row number), as time-ordered as the hub's; consent and
  // the suppression list as NO_CONSENT and SUPPRESSED say.
  await ex(sql`
    insert into members (id, merchant_id, phone, card_no, name, birth_month, birth_day, birth_year, tier_id, tags, consent_sms, consent_email,
                         points_balance, status, created_at, updated_at)
    select (lpad(to_hex(${at.getTime() - N}::bigint + i), 12, '0') || '7a01' || '8' || lpad(to_hex(i), 15, '0'))::uuid, ${merchantId}::uuid,
           '+86138' || lpad(i::text, 8, '0'), '8' || lpad(i::text, 15, '0'), '会员' || i, 1 + i % 12, 1 + i % 28, 1960 + i % 45,
           (${sql.param(base.tiers)}::uuid[])[1 + i % 3], case when i % 7 = 0 then '["vip"]'::jsonb else '[]'::jsonb end,
           i % 20 <> 7, i % 3 = 0, (i * 37) % 5000, 'active', ${at}, ${at}
      from generate_series(0, ${N - 1}) i`)
  await ex(sql`
    insert into suppressions (merchant_id, channel, address, reason, created_at)
    select ${merchantId}::uuid, 'sms', '+86138' || lpad(i::text, 8, '0'), 'bench: replied TD', ${at} from generate_series(0, ${N - 1}) i where i % 250 = 3`)
  await ex(sql`vacuum analyze members`)
  await ex(sql`vacuum analyze suppressions`)
  let expectedSent = 0
  for (let i = 0; i < N; i++) if (!NO_CONSENT(i) && !SUPPRESSED(i)) expectedSent++
  const expectedSuppressed = N - expectedSent

  const connection = await createConnection(
    hub.database.db,
    registry,
    hub.secrets,
    merchantId,
    { connectorId: 'aliyun-sms', name: 'Aliyun SMS', config: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET, signName: SIGN_NAME, maxPerSecond: Math.min(5000, QPS), endpoint: ENDPOINT } },
    at,
  )
  const campaign = await hub.database.db.transaction(async (tx) => {
    const segment = await createSegment(tx, merchantId, { name: 'Everyone', rule: { points: { min: 0 } } }, at)
    return createCampaign(
      tx,
      merchantId,
      {
        name: 'Spring sale',
        segmentId: segment.id,
        connectionId: connection.id,
        channel: 'sms',
        message: { templateCode: TEMPLATE, signName: SIGN_NAME },
        schedule: 'now',
        // Equal start and end: no quiet hours. The rate is far above the vendor's, so the vendor sets the pace.
        quietStart: '00:00',
        quietEnd: '00:00',
        ratePerSecond: 100_000,
      },
      at,
    )
  })
  console.log(`  ${secs(performance.now() - t)} s: ${N.toLocaleString('en')} members, ${expectedSent.toLocaleString('en')} consenting and not suppressed`)

  // ---- the send ------------------------------------------------------------------------------------------------
  const clock: TxClock = { snapshot: 0, claim: [], record: [], other: 0 }
  const txState = { afterSend: false, transactions: 0 }
  const measured = timedHub(hub, clock, txState)
  const batch = Math.min(100, Math.min(5000, QPS))
  console.log(`sending: Aliyun sandbox ${LATENCY_MS} ms per SendBatchSms, ${QPS} calls/s; connection maxPerSecond ${Math.min(5000, QPS)}, campaign rate 100,000/s, batches of ${batch}`)
  if (args.statements) await resetStatements(url)
  let plans: string[] = []
  let explainMs = 0
  if (args.explain) {
    // After the snapshot, before the first claim: the claim as it runs on the whole pending run.
    const original = measured.database.db.transaction
    let first = true
    measured.database.db = new Proxy(measured.database.db, {
      get(target, prop) {
        if (prop !== 'transaction') return Reflect.get(target, prop, target)
        return async (fn: (tx: Tx) => Promise<unknown>, c?: unknown) => {
          if (first && txState.transactions === 1) {
            first = false
            const e0 = performance.now()
            plans = await explainCycle(hub.database.db, merchantId, campaign.id, batch)
            explainMs = performance.now() - e0
          }
          return (original as (f: typeof fn, c?: unknown) => Promise<unknown>)(fn, c)
        }
      },
    }) as Db
  }
  t = performance.now()
  progress.started = t
  const summary = await sendCampaign(measured, { merchantId, campaignId: campaign.id, runKey: 'once' }, { registry, ignoreQuietHours: true, sliceMs: 24 * 3600_000 })
  const wallMs = performance.now() - t - explainMs
  if (args.statements) await topStatements(url, 15)

  // ---- what happened ---------------------------------------------------------------------------------------------
  const seconds = wallMs / 1000
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
  // The last two "claims" are the empty one and the status update at the end.
  const claims = clock.claim.slice(0, Math.max(0, clock.claim.length - 2))
  const claimMs = sum(clock.claim)
  const recordMs = sum(clock.record)
  const sendMs = wallMs - clock.snapshot
  const dbMsPer1000 = (claimMs + recordMs) / (N / 1000)
  const perS = N / seconds
  const sendPerS = N / (sendMs / 1000)
  const hubPerS = N / ((wallMs - vendor.ms) / 1000)
  const tenth = Math.max(1, Math.floor(claims.length / 10))
  const avg = (xs: number[]) => (xs.length ? sum(xs) / xs.length : 0)

  const statuses = Object.fromEntries(
    ((await ex(sql`select status, count(*)::int as n from campaign_deliveries where campaign_id = ${campaign.id} group by 1`)).rows as { status: string; n: number }[]).map((r) => [r.status, r.n]),
  )
  // Every message the vendor took, by number: one for each consenting, unsuppressed member, none for anybody else.
  const received = new Map<string, number>()
  for (const m of sandbox.messages()) received.set(m.phone, (received.get(m.phone) ?? 0) + 1)
  let missing = 0
  let unwanted = 0
  let twice = 0
  for (let i = 0; i < N; i++) {
    const n = received.get(phoneOf(i).slice(3)) ?? 0
    if (!NO_CONSENT(i) && !SUPPRESSED(i)) {
      if (n === 0) missing++
      if (n > 1) twice++
    } else if (n > 0) unwanted++
  }
  const correct = missing === 0 && unwanted === 0 && twice === 0 && summary.sent === expectedSent && summary.suppressed === expectedSuppressed && (statuses.accepted ?? 0) === expectedSent

  console.log(`  ${summary.added.toLocaleString('en')} deliveries snapshotted in ${secs(clock.snapshot)} s; ${summary.batches} batches; ${summary.sent} sent, ${summary.suppressed} suppressed, ${summary.failed} failed, ${summary.unknown} unknown`)
  console.log(`  ${secs(wallMs)} s in all: ${Math.round(perS)} recipients/s (${Math.round(sendPerS)}/s after the snapshot); without the vendor's ${secs(vendor.ms)} s (${vendor.calls} calls): ${Math.round(hubPerS)}/s of hub throughput`)
  console.log(
    `  database: claim ${secs(claimMs)} s (${clock.claim.length} transactions, ${round1(avg(claims.slice(0, tenth)))} ms each in the first tenth, ${round1(avg(claims.slice(-tenth)))} ms in the last), ` +
      `record ${secs(recordMs)} s (${round1(avg(clock.record))} ms each): ${round1(dbMsPer1000)} ms per 1,000 recipients`,
  )
  console.log(
    `  connector: ${secs(connector.ms)} s in sendBatch, of which the vendor ${secs(vendor.ms)} s; per call ${round1(connector.before / vendor.calls)} ms before the request reached the vendor ` +
      `(numbers checked, signed, call excerpt, HTTP client), ${round1(connector.after / vendor.calls)} ms after its answer (HTTP client, call log row)`,
  )
  console.log(`  deliveries: ${JSON.stringify(statuses)}; vendor messages ${sum([...received.values()])}: missing ${missing}, to members who must not get one ${unwanted}, twice ${twice}`)
  for (const [i, plan] of plans.entries()) console.log(`EXPLAIN (ANALYZE, BUFFERS) of statement ${i + 1} of a claim → record cycle, ${N.toLocaleString('en')} pending:\n${plan}`)
  console.log(`${correct ? 'correct' : 'WRONG'}; ${perS >= TARGET ? 'within' : 'BELOW'} the ${TARGET.toLocaleString('en')} recipients/s target (hub alone ${hubPerS >= TARGET ? 'within' : 'BELOW'})`)
  const result = {
    recipients: N,
    recipients_per_s: Math.round(perS),
    hub_recipients_per_s: Math.round(hubPerS),
    db_ms_per_1000: round1(dbMsPer1000),
    snapshot_s: secs(clock.snapshot),
    seconds: secs(wallMs),
    vendor_s: secs(vendor.ms),
    vendor_calls: vendor.calls,
    batches: summary.batches,
    sent: summary.sent,
    suppressed: summary.suppressed,
    failed: summary.failed,
    unknown: summary.unknown,
    correct,
  }
  await hub.close()
  console.log(JSON.stringify(result))
  if (!correct) process.exitCode = 1
} finally {
  server.close()
  await db.close()
}
