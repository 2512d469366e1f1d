// Campaign jobs: the glue between the campaign core and the campaign connectors.
//
// - `campaigns.send` sends one run of a campaign: outside quiet hours only (inside, it comes back at their end), the
//   audience snapshotted once, then batch after batch — claimed, sent, recorded — paced below the campaign's rate
//   and the vendor's; throttling (or a call the vendor refused unread, a 503) puts the batch back and waits; a timeout
//   leaves its deliveries 'unknown'. A job that runs long hands over to a fresh one; a re-run or a second send finds
//   nothing new to send. A run whose campaign was cancelled ends: see endCancelledRun.
// - `campaigns.settle` asks the vendor about deliveries whose outcome is unknown.
// - `campaigns.schedule` (every minute) starts campaigns whose time has come: 'at' once, 'daily' each local day.
import { and, eq, inArray, sql } from 'drizzle-orm'
import { z } from 'zod'
import { campaignTraitsOf, type CampaignCapabilities } from '../connectors/framework/campaign.ts'
import { getConnectionRow, loadConnection } from '../connectors/framework/connections.ts'
import { connectorContext } from '../connectors/framework/context.ts'
import { ConnectorError } from '../connectors/framework/http-types.ts'
import type { ConnectorRegistry } from '../connectors/framework/registry.ts'
import { connectorRegistry } from '../connectors/index.ts'
import { campaigns } from '../core/campaigns/schema.ts'
import {
  acceptedCount,
  acceptedNotToSend,
  acceptedOf,
  applyCampaignEvents,
  claimBatch,
  deliveriesToSettle,
  getCampaign,
  nextSendTime,
  pendingCount,
  queueSend,
  recordOutcomes,
  recordWithdrawn,
  RETRY_REST_MS,
  SEND_TASK,
  setCampaignStatus,
  skipUnsent,
  snapshotAudience,
  type Campaign,
  type Outcome,
} from '../core/campaigns/service.ts'
import { getSettings } from '../core/merchants/settings.ts'
import { recordAudit } from '../core/staff/audit.ts'
import type { Actor } from '../core/staff/actor.ts'
import type { Tx } from '../db/client.ts'
import { enqueue } from '../db/enqueue.ts'
import { conflict, invalid, isDomainError } from '../lib/errors.ts'
import { businessDate, localTimeOfDay } from '../lib/time.ts'
import type { Hub } from '../runtime.ts'
import type { InboundHandler } from './inbound-handlers.ts'
import { defineTask, type CronDefinition } from './task.ts'
import { trackProgress } from './progress.ts'

export { queueSend, SEND_TASK }
/** A send job hands over to a fresh job after this long, so one job never holds a worker for hours. */
export const SEND_SLICE_MS = 60_000
/** Senders sharing one run at most. */
export const MAX_SENDERS = 4
/** A run that met a vendor failing its calls (5xx, no answer) pauses this long before the next batch. */
export const OUTAGE_PAUSE_MS = 60_000
/** Recipients a cancelled run takes back from its vendor per round. */
const CANCEL_PAGE = 200

export interface SendSummary {
  runKey: string
  added: number
  sent: number
  failed: number
  suppressed: number
  unknown: number
  batches: number
  /** Set when the job stopped early: quiet hours, throttling, a vendor outage, or its time slice. */
  resumeAt: Date | null
  done: boolean
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })

/** Sends (or continues) one run of a campaign. `dryRun` snapshots and counts, and sends nothing. */
export async function sendCampaign(
  hub: Hub,
  ref: { merchantId: string; campaignId: string; runKey: string },
  opts: { registry?: ConnectorRegistry; signal?: AbortSignal; sliceMs?: number; dryRun?: boolean; ignoreQuietHours?: boolean; jobId?: string } = {},
): Promise<SendSummary> {
  const db = hub.database.db
  const summary: SendSummary = { runKey: ref.runKey, added: 0, sent: 0, failed: 0, suppressed: 0, unknown: 0, batches: 0, resumeAt: null, done: false }
  const campaign = await getCampaign(db, ref.merchantId, ref.campaignId)
  if (campaign.status === 'cancelled') {
    await endCancelledRun(hub, campaign, ref.runKey, opts)
    return { ...summary, done: true }
  }
  const loaded = await loadConnection(db, opts.registry ?? connectorRegistry, hub.secrets, campaign.connectionId, ref.merchantId)
  if (loaded.connector.family !== 'campaign') throw invalid('not_a_campaign_connection', `connection ${loaded.row.name} cannot send campaigns`)
  // Nothing goes out through a connection switched off; the job retries, and the run goes on once it is on again.
  if (!loaded.row.enabled) throw connectionDisabled(loaded.row.name)
  const caps = loaded.connector.capabilities as CampaignCapabilities<any>
  const traits = campaignTraitsOf(caps, loaded.config)
  if (traits.channel !== campaign.channel) throw invalid('channel_mismatch', `connection ${loaded.row.name} sends ${traits.channel}, the campaign is for ${campaign.channel}`)
  const { timeZone } = await getSettings(db, ref.merchantId)

  const now = hub.clock()
  const allowed = opts.ignoreQuietHours || opts.dryRun ? now : nextSendTime(now, timeZone, campaign.quietStart, campaign.quietEnd)
  if (allowed > now) return { ...summary, resumeAt: allowed }

  // The audience is taken once per run: a later slice (or a second send) neither adds nor drops anyone.
  const added = await db.transaction(async (tx) => {
    // Cancelled since it was read above: 'sending' must not undo the cancel.
    if ((await getCampaign(tx, ref.merchantId, ref.campaignId, { forUpdate: true })).status === 'cancelled') return null
    const taken = await tx.execute(sql`select 1 from campaign_deliveries where campaign_id = ${campaign.id} and run_key = ${ref.runKey} limit 1`)
    const added = taken.rows.length ? 0 : await snapshotAudience(tx, campaign, ref.runKey, now)
    await setCampaignStatus(tx, campaign, 'sending', ref.runKey, now)
    return added
  })
  if (added === null) {
    await endCancelledRun(hub, campaign, ref.runKey, opts)
    return { ...summary, done: true }
  }
  summary.added = added
  // Fresh statistics for the claim queries over a large new audience.
  if (summary.added > 1000) await db.execute(sql`analyze campaign_deliveries`)
  if (opts.dryRun) return { ...summary, done: false }

  // Recipients done of the run, for the dashboard's jobs page; a later slice continues the same row.
  const [tally] = (
    await db.execute<{ total: number; open: number }>(sql`
      select count(*)::int as total, (count(*) filter (where status in ('pending', 'claimed')))::int as open
        from campaign_deliveries where campaign_id = ${campaign.id} and run_key = ${ref.runKey}`)
  ).rows
  let done = tally!.total - tally!.open
  const progress = await trackProgress(
    db,
    { merchantId: ref.merchantId, task: SEND_TASK, key: `${campaign.id}:${ref.runKey}`, label: `${campaign.name} (${ref.runKey})`, unit: 'recipients', jobId: opts.jobId ?? null },
    { done, total: tally!.total, resume: true, warn: (err) => hub.logger.warn({ err }, 'job progress not recorded') },
  )

  const ctx = connectorContext(hub, loaded, opts.signal)
  const rate = Math.max(1, Math.min(campaign.ratePerSecond, traits.maxPerSecond))
  const batchSize = Math.max(1, Math.min(traits.maxBatch, rate))
  const started = Date.now()
  const slice = opts.sliceMs ?? SEND_SLICE_MS
  // A few senders share the run (SKIP LOCKED keeps their batches apart), so claiming and recording overlap the
  // vendor's calls; together they keep to the rate.
  const senders = Math.max(1, Math.min(MAX_SENDERS, Math.ceil(rate / batchSize)))
  let stop: 'slice' | 'throttled' | 'refused' | 'outage' | null = null
  const sender = async () => {
    for (;;) {
      if (stop) return
      if (opts.signal?.aborted || Date.now() - started > slice) {
        stop ??= 'slice'
        summary.resumeAt ??= new Date(Date.now() + 100)
        return
      }
      const t0 = Date.now()
      const batch = await db.transaction((tx) => claimBatch(tx, campaign, ref.runKey, batchSize, hub.clock()))
      if (batch.length === 0) return
      summary.batches++
      let outcomes: Outcome[]
      let failing: ConnectorError | null = null
      try {
        const results = await caps.sendBatch(ctx, {
          campaignKey: `${campaign.id}:${ref.runKey}`,
          message: campaign.message,
          recipients: batch.map((d) => ({ deliveryId: d.id, memberId: d.memberId, address: d.address, params: d.params })),
        })
        outcomes = batch.map((d, i): Outcome => {
          const r = results[i]
          if (!r) return { deliveryId: d.id, status: 'unknown', message: 'the connector returned no result for this recipient' }
          // The connector could not tell whether the vendor took it: settled by receipts, never resent.
          if (r.status === 'failed' && r.code === 'outcome_unknown') return { deliveryId: d.id, status: 'unknown', message: r.message }
          return r
        })
      } catch (e) {
        if (!(e instanceof ConnectorError)) throw e
        if (e.kind === 'rate_limited' || e.kind === 'circuit_open' || (e.kind === 'retryable' && e.status !== undefined && e.status >= 400 && e.status < 500)) {
          // Refused before sending: back to pending, and every sender waits.
          await db.transaction((tx) => recordOutcomes(tx, campaign, batch.map((d) => ({ deliveryId: d.id, status: 'pending' })), hub.clock()))
          stop = 'throttled'
          const at = new Date(Date.now() + Math.max(1000, e.retryAfterMs ?? 5000))
          if (!summary.resumeAt || summary.resumeAt < at) summary.resumeAt = at
          return
        }
        if (e.kind === 'permanent' || e.kind === 'auth_failed') {
          // Refused outright, nothing sent (the account out of service, keys or template wrong): the recipients stay
          // to be sent, and the run fails so its job tries again later and the merchant sees why.
          await db.transaction((tx) => recordOutcomes(tx, campaign, batch.map((d) => ({ deliveryId: d.id, status: 'pending' })), hub.clock()))
          stop = 'refused'
          throw e
        }
        // Refused unread (a 503: Aliyun's ServiceUnavailable, Twilio's 20503; a connection refused), as the HTTP client
        // tells by notSent: nothing went, so the batch waits to be sent. Otherwise (a timeout, a 500) the vendor may or
        // may not have the messages: never resend blindly. Either way the vendor is failing its calls.
        outcomes = batch.map((d): Outcome => (e.notSent ? { deliveryId: d.id, status: 'pending' } : { deliveryId: d.id, status: 'unknown', message: `${e.kind}: ${e.message}`.slice(0, 300) }))
        failing = e
      }
      await db.transaction((tx) => recordOutcomes(tx, campaign, outcomes, hub.clock()))
      for (const o of outcomes) {
        if (o.status === 'accepted') summary.sent++
        else if (o.status === 'failed' && !o.retryable) summary.failed++
        else if (o.status === 'unknown') summary.unknown++
        if (o.status !== 'pending' && !(o.status === 'failed' && o.retryable)) done++
      }
      await progress.update(done)
      if (failing) {
        // A vendor failing its calls is likely down: the rest of the run waits for it rather than going the same way
        // (each batch sent into an outage is unknown, and never sent again).
        stop = 'outage'
        const at = new Date(Date.now() + Math.max(OUTAGE_PAUSE_MS, failing.retryAfterMs ?? 0))
        if (!summary.resumeAt || summary.resumeAt < at) summary.resumeAt = at
        hub.logger.warn({ campaignId: campaign.id, runKey: ref.runKey, err: failing.message }, 'campaign run paused: the vendor is failing its calls')
        return
      }
      // Pace: each sender's batch of n messages takes at least n × senders / rate seconds.
      const wait = ((batch.length * senders) / rate) * 1000 - (Date.now() - t0)
      if (wait > 0) await sleep(wait, opts.signal)
    }
  }
  // The run ends when every sender has: one failing stops the others at their next batch, and a batch still out with
  // the vendor is recorded before the run fails (its recipients are not left claimed by a sender nobody waits for).
  const guarded = () =>
    sender().catch((e: unknown) => {
      stop ??= 'refused'
      throw e
    })
  const ended = await Promise.allSettled(Array.from({ length: senders }, guarded))
  const failed = ended.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) {
    await progress.fail(failed.reason)
    throw failed.reason
  }
  // Cancelled while sending (claimBatch claims nothing more then): the run is over, also when it stopped early (a
  // batch throttled after the cancel came back pending).
  const [current] = (await db.execute<{ status: string }>(sql`select status from campaigns where id = ${campaign.id}`)).rows
  if (current?.status === 'cancelled') {
    await endCancelledRun(hub, campaign, ref.runKey, opts)
    // Every recipient is decided now (sent, or not sent with the run): the jobs page shows the run ended.
    await progress.finish({ done: tally!.total, total: tally!.total })
    return { ...summary, resumeAt: null, done: true }
  }
  if (stop) return summary
  // Recipients resting after per-number throttling: the run continues when they may be tried again.
  if ((await pendingCount(db, campaign.id, ref.runKey)) > 0) {
    summary.resumeAt = new Date(Date.now() + RETRY_REST_MS)
    return summary
  }
  if (caps.finish) {
    const campaignKey = `${campaign.id}:${ref.runKey}`
    // The vendor sends the whole run only now: recipients accepted earlier who withdrew consent since are taken back.
    const withdrawn = caps.withdraw ? await acceptedNotToSend(db, campaign, ref.runKey) : []
    if (withdrawn.length) {
      await caps.withdraw!(ctx, { campaignKey, recipients: withdrawn })
      await db.transaction((tx) => recordWithdrawn(tx, withdrawn, hub.clock()))
    }
    // Every recipient of the run, accepted by this job or an earlier one (a retry after finish failed sends them).
    const recipients = await acceptedCount(db, campaign.id, ref.runKey)
    if (recipients > 0) await caps.finish(ctx, { campaignKey, message: campaign.message, recipients })
  }
  await db.transaction(async (tx) => {
    const c = await getCampaign(tx, ref.merchantId, ref.campaignId, { forUpdate: true })
    if (c.status === 'cancelled') return
    await setCampaignStatus(tx, c, c.schedule === 'daily' ? 'scheduled' : 'sent', ref.runKey, hub.clock())
    await queueSettle(tx, ref, new Date(Date.now() + 60_000))
  })
  const counts = await db.execute<{ n: number }>(
    sql`select count(*)::int as n from campaign_deliveries where campaign_id = ${campaign.id} and run_key = ${ref.runKey} and status in ('suppressed', 'skipped')`,
  )
  summary.suppressed = counts.rows[0]!.n
  summary.done = true
  await progress.finish({ done: tally!.total, total: tally!.total })
  return summary
}

/**
 * Ends a run of a cancelled campaign. Recipients still waiting (also a batch that came back pending after the cancel)
 * end not sent with their coupons void, as cancelCampaign did for those waiting then. A vendor that sends a run only
 * when it ends (Mailchimp: `finish`) holds the recipients it accepted, not yet emailed: they are taken back from it
 * (`withdraw`: the run's tag comes off) and end not sent too — no email, no coupon, no sale credited to the campaign.
 * A recipient the vendor says was sent (a finish that went out before the cancel, its answer lost) stays as it is.
 * Through a connection switched off nothing is asked of the vendor; its recipients end not sent all the same (a
 * cancelled run is never finished, so the vendor never emails them).
 */
async function endCancelledRun(hub: Hub, campaign: Campaign, runKey: string, opts: { registry?: ConnectorRegistry; signal?: AbortSignal }): Promise<void> {
  const db = hub.database.db
  await db.transaction((tx) => skipUnsent(tx, campaign.id, runKey, hub.clock()))
  let loaded: Awaited<ReturnType<typeof loadConnection>>
  try {
    loaded = await loadConnection(db, opts.registry ?? connectorRegistry, hub.secrets, campaign.connectionId, campaign.merchantId)
  } catch (e) {
    // The connection was deleted (or its connector is gone): there is no vendor left to ask, nor to send the run.
    if (!isDomainError(e)) throw e
    hub.logger.warn({ campaignId: campaign.id, runKey, err: e.message }, 'cancelled campaign run: its connection is gone, accepted recipients left as they are')
    return
  }
  const caps = loaded.connector.capabilities as CampaignCapabilities<any>
  // Sent as they were accepted: nothing to take back.
  if (!caps.finish) return
  const ctx = loaded.row.enabled ? connectorContext(hub, loaded, opts.signal) : null
  // A page at a time, each recorded once the vendor dropped it, so a job stopped halfway keeps what it did.
  for (let after: string | null = null; ; ) {
    const held = await acceptedOf(db, campaign, runKey, { after, limit: CANCEL_PAGE })
    if (held.length === 0) return
    after = held[held.length - 1]!.id
    let taken = held
    if (ctx && caps.queryStatus) {
      const events = await caps.queryStatus(ctx, {
        deliveries: held.map((d) => ({ deliveryId: d.id, vendorMessageId: d.vendorMessageId, address: d.address ?? '', sentAt: (d.sentAt ?? d.claimedAt ?? d.createdAt).toISOString() })),
      })
      const sent = new Set(events.flatMap((e) => (e.kind === 'status' && e.deliveryId ? [e.deliveryId] : [])))
      if (sent.size) await db.transaction((tx) => applyCampaignEvents(tx, campaign.merchantId, campaign.channel as 'email', events, hub.clock()))
      taken = held.filter((d) => !sent.has(d.id))
    }
    const recipients = taken.flatMap((d) => (d.address ? [{ deliveryId: d.id, address: d.address }] : []))
    if (ctx && caps.withdraw && recipients.length) await caps.withdraw(ctx, { campaignKey: `${campaign.id}:${runKey}`, recipients })
    await db.transaction((tx) => recordWithdrawn(tx, taken.map((d) => ({ deliveryId: d.id, status: 'skipped', reason: 'campaign_cancelled' })), hub.clock()))
  }
}

/** Asks the vendor about deliveries whose outcome is unknown (or claimed by a worker that died). */
export async function settleCampaign(hub: Hub, ref: { merchantId: string; campaignId: string }, opts: { registry?: ConnectorRegistry; signal?: AbortSignal } = {}): Promise<number> {
  const db = hub.database.db
  const campaign = await getCampaign(db, ref.merchantId, ref.campaignId)
  const loaded = await loadConnection(db, opts.registry ?? connectorRegistry, hub.secrets, campaign.connectionId, ref.merchantId)
  const caps = loaded.connector.capabilities as CampaignCapabilities<any>
  if (!caps.queryStatus) return 0
  const open = await deliveriesToSettle(db, campaign, 500)
  if (open.length === 0) return 0
  const events = await caps.queryStatus(connectorContext(hub, loaded, opts.signal), {
    deliveries: open.map((d) => ({ deliveryId: d.id, vendorMessageId: d.vendorMessageId, address: d.address ?? '', sentAt: (d.sentAt ?? d.claimedAt ?? d.createdAt).toISOString() })),
  })
  const r = await db.transaction((tx) => applyCampaignEvents(tx, ref.merchantId, campaign.channel as 'sms', events, hub.clock()))
  return r.updated
}

export const connectionDisabled = (name: string) => conflict('connection_disabled', `connection ${name} is disabled: enable it to send`, { connection: name })

/**
 * Starts a run of a campaign now (the API's send and the dashboard's "send now"): refused for a cancelled campaign or
 * a switched-off connection; the run is this local day's for a daily campaign, else the campaign's one run. A dry run
 * checks the same and writes nothing.
 */
export async function startCampaignSend(
  tx: Tx,
  actor: Actor,
  campaignId: string,
  now: Date,
  opts: { dryRun?: boolean; via?: 'dashboard' | 'cli' } = {},
): Promise<{ campaign: Campaign; runKey: string }> {
  const campaign = await getCampaign(tx, actor.merchantId, campaignId, { forUpdate: true })
  if (campaign.status === 'cancelled') throw conflict('campaign_cancelled', 'the campaign was cancelled: it cannot be sent')
  const conn = await getConnectionRow(tx, actor.merchantId, campaign.connectionId)
  if (!conn.enabled && !opts.dryRun) throw connectionDisabled(conn.name)
  const { timeZone } = await getSettings(tx, actor.merchantId)
  const runKey = campaign.schedule === 'daily' ? businessDate(now, timeZone) : 'once'
  if (opts.dryRun) return { campaign, runKey }
  await setCampaignStatus(tx, campaign, 'sending', runKey, now)
  await queueSend(tx, { merchantId: actor.merchantId, campaignId, runKey })
  await recordAudit(tx, actor, { action: 'campaign.sent', entityType: 'campaign', entityId: campaignId, details: opts.via ? { runKey, via: opts.via } : { runKey } })
  return { campaign, runKey }
}

const RunRef = z.object({ merchantId: z.uuid(), campaignId: z.uuid(), runKey: z.string().min(1).max(40) })

export const sendTask = defineTask({
  name: SEND_TASK,
  payload: RunRef,
  async run(payload, { hub, signal, job }) {
    const s = await sendCampaign(hub, payload, { signal, jobId: job.id })
    if (s.resumeAt) await hub.database.db.transaction((tx) => queueSend(tx, payload, s.resumeAt!))
    hub.logger.info({ campaignId: payload.campaignId, ...s }, s.done ? 'campaign run sent' : 'campaign run continues later')
  },
})

export const settleTask = defineTask({
  name: 'campaigns.settle',
  payload: z.object({ merchantId: z.uuid(), campaignId: z.uuid() }),
  async run(payload, { hub, signal }) {
    await settleCampaign(hub, payload, { signal })
  },
})

/** Every minute: 'at' campaigns whose time has come, and daily campaigns at their local time, each local day once. */
export const schedule = defineTask({
  name: 'campaigns.schedule',
  payload: z.object({}).loose(),
  async run(_payload, { hub }) {
    const now = hub.clock()
    const due = await hub.database.db.select().from(campaigns).where(and(eq(campaigns.status, 'scheduled'), inArray(campaigns.schedule, ['at', 'daily'])))
    for (const c of due) {
      const { timeZone } = await getSettings(hub.database.db, c.merchantId)
      const today = businessDate(now, timeZone)
      let runKey: string | null = null
      if (c.schedule === 'at' && c.sendAt && c.sendAt <= now) runKey = 'once'
      if (c.schedule === 'daily' && c.dailyAt && c.lastRunKey !== today) {
        if (localTimeOfDay(now, timeZone) >= c.dailyAt) runKey = today
      }
      if (!runKey) continue
      const key = runKey
      await hub.database.db.transaction(async (tx) => {
        // Cancelled (or started by hand) since it was read: left as it is.
        const current = await getCampaign(tx, c.merchantId, c.id, { forUpdate: true })
        if (current.status !== 'scheduled') return
        await setCampaignStatus(tx, current, 'sending', key, now)
        await queueSend(tx, { merchantId: c.merchantId, campaignId: c.id, runKey: key })
      })
    }
  },
})

/** Receipts and opt-outs arriving as webhooks of a campaign connection. */
export const campaignEvent: InboundHandler = async ({ hub, tx, merchantId, connection, event }) => {
  const caps = connection.connector.capabilities as CampaignCapabilities<any>
  if (!caps.interpretWebhook) return 'ignored'
  const events = caps.interpretWebhook(event, connection.config)
  if (events.length === 0) return 'ignored'
  const channel = campaignTraitsOf(caps, connection.config).channel
  await applyCampaignEvents(tx, merchantId, channel, events, hub.clock())
}

/** Queues asking the vendor about a campaign's deliveries whose outcome is unknown (once per campaign at a time). */
export const queueSettle = (tx: Tx, ref: { merchantId: string; campaignId: string }, runAt?: Date) =>
  enqueue(tx, 'campaigns.settle', { merchantId: ref.merchantId, campaignId: ref.campaignId }, { jobKey: `campaigns.settle:${ref.campaignId}`, runAt })

export const tasks = [sendTask, settleTask, schedule]
export const cron: CronDefinition[] = [{ task: 'campaigns.schedule', match: '* * * * *', backfillMs: 10 * 60_000 }]
