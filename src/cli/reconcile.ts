// `tillbridge reconcile import|run`: an operator imports a channel's statement file and reconciles a day from the
// shell. With --json the last line of stdout is one JSON object: the statement, and the run's counts per outcome and
// its amounts (minor units), so scripts can act on it.
import path from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import type { DayPreview, RunSummary } from '../core/reconciliation/match.ts'
import { eq } from 'drizzle-orm'
import { connections } from '../connectors/framework/schema.ts'
import { getSettings } from '../core/merchants/settings.ts'
import { formatDecimal } from '../lib/money.ts'
import { isUuid } from '../lib/ids.ts'
import { isDate } from '../lib/time.ts'
import type { OpenedHub } from '../runtime.ts'
import { openInputFile } from './errors.ts'
import { createProgress } from './progress.ts'

const connectionArg = (v: string) => {
  if (!isUuid(v)) throw new InvalidArgumentError('must be a connection id (a UUID)')
  return v
}
const dateArg = (v: string) => {
  if (!isDate(v)) throw new InvalidArgumentError('must be a date YYYY-MM-DD')
  return v
}
const formatArg = (v: string) => {
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(v)) throw new InvalidArgumentError('must be a statement format such as wechat_trade, alipay_trade or mapped')
  return v
}

const CONTENT_TYPES: Record<string, string> = {
  '.csv': 'text/csv',
  '.txt': 'text/plain',
  '.gz': 'application/gzip',
  '.zip': 'application/zip',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.json': 'application/json',
}

const runJson = (r: RunSummary) => ({ id: r.runId, status: r.status, reused: r.reused, counts: r.counts, totals: r.totals, changes: r.changes })

function describeRun(date: string, r: RunSummary, currency: string): string {
  return `reconciled ${date}: ${r.status}${r.reused ? ' (unchanged since the last run)' : ''} — ${describeFigures(r, currency)}`
}

/** The currency of the connection's merchant: the amounts it prints are written in its decimals. */
async function currencyOf(hub: OpenedHub, connectionId: string): Promise<string> {
  const [c] = await hub.database.db.select({ merchantId: connections.merchantId }).from(connections).where(eq(connections.id, connectionId))
  return c ? (await getSettings(hub.database.db, c.merchantId)).currency : 'CNY'
}

function describeFigures(r: Pick<RunSummary, 'counts' | 'totals'>, currency: string): string {
  const counts = Object.entries(r.counts)
    .filter(([k, n]) => n > 0 && k !== 'open' && k !== 'open_exceptions')
    .map(([k, n]) => `${k} ${n}`)
    .join(', ')
  const t = r.totals
  const money = (n: number | undefined) => formatDecimal(n ?? 0, currency)
  return `${counts || 'nothing to match'}; till ${money(t.pos_net)}, channel ${money(t.channel_net)}, difference ${money(t.difference)}; open exceptions ${r.counts.open_exceptions ?? 0}`
}

function describePreview(date: string, p: DayPreview, currency: string): string {
  const c = p.changes
  return `dry run of ${date} (nothing written): would be ${p.status} — ${describeFigures(p, currency)}; would create ${c.created}, change ${c.changed}, remove ${c.removed} items`
}

/** The import `reconcile import` asks for: the file as given, read from disk as a stream. */
const fileInput = (o: { connection: string; date: string; file: string; format?: string }, content: ReturnType<typeof openInputFile>) => ({
  connectionId: o.connection,
  businessDate: o.date,
  format: o.format,
  fileName: path.basename(o.file),
  content,
  contentType: CONTENT_TYPES[path.extname(o.file).toLowerCase()] ?? 'application/octet-stream',
  source: 'uploaded' as const,
})

/** `reconcile import --dry-run`: what importing the file would do, with the day's run then; nothing written. */
async function previewImport(hub: OpenedHub, o: { connection: string; date: string; file: string; format?: string; json?: boolean }, content: ReturnType<typeof openInputFile>) {
  const { previewFile } = await import('../jobs/reconciliation.ts')
  const p = await previewFile(hub, fileInput(o, content))
  const f = p.file
  const json = () => o.json && process.stdout.write(`${JSON.stringify({ connectionId: o.connection, businessDate: o.date, dryRun: p })}\n`)
  if (f.result === 'rejected') {
    json()
    throw new StatementRefused(`the statement would be refused (${f.code}): ${f.reason}`)
  }
  process.stdout.write(
    f.result === 'would_import'
      ? `dry run (nothing written): would import ${f.lineCount} line${f.lineCount === 1 ? '' : 's'} of ${f.format} for ${o.date}${f.supersedes.length ? `, superseding ${f.supersedes.length} earlier file${f.supersedes.length === 1 ? '' : 's'}` : ''}\n`
      : `dry run (nothing written): this file is the day's statement already (statement ${f.statementId})\n`,
  )
  // Only a refused file has no run.
  const run = p.run!
  const currency = await currencyOf(hub, o.connection)
  process.stdout.write(`${describePreview(o.date, run, currency)}\n`)
  printExceptions(run, currency)
  json()
}

/** The first exceptions a dry run would leave open, a line each. */
function printExceptions(p: DayPreview, currency: string) {
  for (const e of p.exceptions.slice(0, 20)) {
    process.stdout.write(`  ${e.outcome.padEnd(20)} ${(e.posRef ?? (e.lineId === null ? '' : `line ${e.lineId}`)).padEnd(34)} till ${e.posAmount === null ? '—' : formatDecimal(e.posAmount, currency)}, channel ${e.channelAmount === null ? '—' : formatDecimal(e.channelAmount, currency)}${e.isNew ? '' : ' (already open)'}\n`)
  }
  if (p.exceptions.length > 20) process.stdout.write(`  … ${(p.counts.open ?? 0) - 20} more (--json lists up to ${p.exceptions.length})\n`)
}

/** Adds `reconcile import` and `reconcile run` to the program; `open` opens the hub for one command. */
export function registerReconcile(program: Command, open: () => Promise<OpenedHub>): void {
  const reconcile = program.command('reconcile').description('import settlement statements and reconcile days against the till')

  reconcile
    .command('import')
    .description("import a channel's statement file for a business date, then reconcile that day")
    .requiredOption('--connection <id>', 'the payment connection the file belongs to', connectionArg)
    .requiredOption('--date <YYYY-MM-DD>', 'the business date the file covers', dateArg)
    .requiredOption('--file <path>', 'the statement file as the channel gave it (compressed or not)')
    .option('--format <format>', "the file's layout (default: the connector's usual one)", formatArg)
    .option('--no-run', 'import only, without reconciling the day')
    .option('--json', 'print a JSON summary as the last line')
    .option('--dry-run', 'import the file and reconcile the day in a transaction that is rolled back: show what it would do, writing nothing')
    .action(async (o: { connection: string; date: string; file: string; format?: string; run: boolean; json?: boolean; dryRun?: boolean }) => {
      const content = openInputFile(o.file)
      const hub = await open()
      if (o.dryRun) {
        try {
          await previewImport(hub, o, content)
        } finally {
          await hub.close()
        }
        return
      }
      // Rows read, on stderr, once the import has taken longer than a second.
      const progress = createProgress({ delayMs: 1000 }).step('statement', { unit: 'rows read' })
      try {
        const { importFile, reconcileConnectionDay } = await import('../jobs/reconciliation.ts')
        const r = await importFile(hub, { ...fileInput(o, content), onProgress: (rows) => progress.update(rows) })
        progress.end()
        const statement = { id: r.statementId, status: r.status, format: r.format, lineCount: r.status === 'rejected' ? 0 : r.lineCount }
        if (r.status === 'rejected') {
          if (o.json) process.stdout.write(`${JSON.stringify({ connectionId: o.connection, businessDate: o.date, statement: { ...statement, code: r.code, reason: r.reason, lineNo: r.lineNo }, run: null })}\n`)
          throw new StatementRefused(`the statement was refused (${r.code}): ${r.reason}`)
        }
        process.stdout.write(
          r.status === 'imported'
            ? `imported ${r.lineCount} line${r.lineCount === 1 ? '' : 's'} of ${r.format} for ${o.date} (statement ${r.statementId})${r.superseded.length ? `, superseding ${r.superseded.length} earlier file${r.superseded.length === 1 ? '' : 's'}` : ''}\n`
            : `this file was imported before (statement ${r.statementId}); nothing imported again\n`,
        )
        let run: RunSummary | null = null
        if (o.run) {
          run = await reconcileConnectionDay(hub, { connectionId: o.connection, businessDate: o.date })
          process.stdout.write(`${describeRun(o.date, run, await currencyOf(hub, o.connection))}\n`)
        }
        if (o.json) process.stdout.write(`${JSON.stringify({ connectionId: o.connection, businessDate: o.date, statement, run: run ? runJson(run) : null })}\n`)
      } finally {
        await hub.close()
      }
    })

  reconcile
    .command('run')
    .description("reconcile a connection's business date against its current statement")
    .requiredOption('--connection <id>', 'the payment connection', connectionArg)
    .requiredOption('--date <YYYY-MM-DD>', 'the business date', dateArg)
    .option('--json', 'print a JSON summary as the last line')
    .option('--dry-run', 'work the day out and show what the run would do, writing nothing')
    .action(async (o: { connection: string; date: string; json?: boolean; dryRun?: boolean }) => {
      const hub = await open()
      try {
        const { previewConnectionDay, reconcileConnectionDay } = await import('../jobs/reconciliation.ts')
        if (o.dryRun) {
          const p = await previewConnectionDay(hub, { connectionId: o.connection, businessDate: o.date })
          const currency = await currencyOf(hub, o.connection)
          process.stdout.write(`${describePreview(o.date, p, currency)}\n`)
          printExceptions(p, currency)
          if (o.json) process.stdout.write(`${JSON.stringify({ connectionId: o.connection, businessDate: o.date, dryRun: p })}\n`)
          return
        }
        const run = await reconcileConnectionDay(hub, { connectionId: o.connection, businessDate: o.date })
        process.stdout.write(`${describeRun(o.date, run, await currencyOf(hub, o.connection))}\n`)
        if (o.json) process.stdout.write(`${JSON.stringify({ connectionId: o.connection, businessDate: o.date, run: runJson(run) })}\n`)
      } finally {
        await hub.close()
      }
    })
}

/** A refused file: one line on stderr and exit status 1 (reportAndExit prints any Error that way). */
export class StatementRefused extends Error {}
