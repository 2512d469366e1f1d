// `tillbridge campaigns send --campaign ID [--dry-run] [--json]`: an operator sends a campaign's run from the shell
// (the same path as the job: quiet hours respected, each member once) or, with --dry-run, counts who would get it.
// With --json the last line is one JSON object with the run's counts.
import { InvalidArgumentError, type Command } from 'commander'
import { eq } from 'drizzle-orm'
import { campaigns } from '../core/campaigns/schema.ts'
import { getSettings } from '../core/merchants/settings.ts'
import { systemActor } from '../core/staff/actor.ts'
import { isUuid } from '../lib/ids.ts'
import { businessDate } from '../lib/time.ts'
import type { OpenedHub } from '../runtime.ts'
import { UsageError } from './errors.ts'

const idArg = (v: string) => {
  if (!isUuid(v)) throw new InvalidArgumentError('must be a campaign id (a UUID)')
  return v
}

export function registerCampaigns(program: Command, open: () => Promise<OpenedHub>): void {
  const cmd = program.command('campaigns').description('send member campaigns')
  cmd
    .command('send')
    .description("send a campaign's run now (each member once; quiet hours respected), or count it with --dry-run")
    .requiredOption('--campaign <id>', 'the campaign', idArg)
    .option('--dry-run', 'count the audience and who would be suppressed, send nothing')
    .option('--ignore-quiet-hours', 'send even inside the quiet hours (an operator’s decision)')
    .option('--json', 'print the counts as JSON on the last line')
    .action(async (o: { campaign: string; dryRun?: boolean; ignoreQuietHours?: boolean; json?: boolean }) => {
      const hub = await open()
      try {
        const { campaignResults, getSegment, previewSegment } = await import('../core/campaigns/service.ts')
        const { sendCampaign, startCampaignSend } = await import('../jobs/campaigns.ts')
        const db = hub.database.db
        const [c] = await db.select().from(campaigns).where(eq(campaigns.id, o.campaign))
        if (!c) throw new UsageError(`no campaign ${o.campaign}`)
        if (c.status === 'cancelled') throw new UsageError(`campaign ${c.name} was cancelled`)
        const { timeZone } = await getSettings(db, c.merchantId)
        const runKey = c.schedule === 'daily' ? businessDate(hub.clock(), timeZone) : 'once'
        if (o.dryRun) {
          const seg = await getSegment(db, c.merchantId, c.segmentId)
          const p = await previewSegment(db, c.merchantId, seg.rule, hub.clock(), 0)
          process.stdout.write(`${c.name}: ${p.count} member${p.count === 1 ? '' : 's'} in the segment now; nothing sent (dry run)\n`)
          if (o.json) process.stdout.write(`${JSON.stringify({ campaignId: c.id, runKey, dryRun: true, audience: p.count })}\n`)
          return
        }
        // Started as the API starts a send: the campaign is sending and its job queued, so the worker carries on
        // whatever this command leaves (the quiet hours, a long wait); both send each member once.
        await db.transaction((tx) => startCampaignSend(tx, systemActor(c.merchantId, 'tillbridge cli'), c.id, hub.clock(), { via: 'cli' }))
        const slice = () => sendCampaign(hub, { merchantId: c.merchantId, campaignId: c.id, runKey }, { ignoreQuietHours: o.ignoreQuietHours, sliceMs: 10 * 60_000 })
        let s = await slice()
        // What this command sent, over its slices.
        const total = { sent: s.sent, failed: s.failed, unknown: s.unknown }
        // A slice that ended early (throttling) continues here, in the foreground, until the run is done.
        while (!s.done && s.resumeAt && s.added >= 0) {
          if (s.batches === 0 && s.resumeAt.getTime() - Date.now() > 60_000) break
          await new Promise((r) => setTimeout(r, Math.max(0, s.resumeAt!.getTime() - Date.now())))
          s = await slice()
          total.sent += s.sent
          total.failed += s.failed
          total.unknown += s.unknown
        }
        const results = await campaignResults(db, c)
        if (!s.done && s.resumeAt) process.stdout.write(`${c.name}: quiet hours or throttling; continues at ${s.resumeAt.toISOString()} (the worker picks it up)\n`)
        else process.stdout.write(`${c.name} (${runKey}): ${total.sent} sent, ${total.failed} failed, ${total.unknown} unknown, ${results.counts.suppressed + results.counts.skipped} suppressed or skipped\n`)
        if (o.json) process.stdout.write(`${JSON.stringify({ campaignId: c.id, runKey, done: s.done, resumeAt: s.resumeAt?.toISOString() ?? null, ...total, counts: results.counts })}\n`)
      } finally {
        await hub.close()
      }
    })
}
