// `tillbridge vouchers build|export`: finance staff or a scheduler build a store's daily voucher and deliver it from
// the shell. With --json the last line of stdout is the voucher: its head and lines (account, debit, credit, 摘要)
// in minor units.
import { InvalidArgumentError, type Command } from 'commander'
import { eq } from 'drizzle-orm'
import { stores } from '../core/stores/schema.ts'
import { merchants } from '../core/merchants/schema.ts'
import type { VoucherRow } from '../core/vouchers/service.ts'
import { formatDecimal } from '../lib/money.ts'
import { isUuid } from '../lib/ids.ts'
import { addDays, isDate } from '../lib/time.ts'
import type { OpenedHub } from '../runtime.ts'
import { UsageError } from './errors.ts'
import { createProgress } from './progress.ts'

const idArg = (what: string) => (v: string) => {
  if (!isUuid(v)) throw new InvalidArgumentError(`must be a ${what} id (a UUID)`)
  return v
}
const dateArg = (v: string) => {
  if (!isDate(v)) throw new InvalidArgumentError('must be a date YYYY-MM-DD')
  return v
}

/** Days of a range export at most. */
const MAX_DAYS = 366

/** The business dates to export: --date, or every day from --from to --to. */
function daysOf(o: { date?: string; from?: string; to?: string }): string[] {
  if (o.date && (o.from || o.to)) throw new UsageError('give --date, or --from and --to, not both')
  if (o.date) return [o.date]
  if (!o.from || !o.to) throw new UsageError('give --date, or --from and --to')
  if (o.to < o.from) throw new UsageError('--to is before --from')
  const days: string[] = []
  for (let d = o.from; d <= o.to; d = addDays(d, 1)) {
    days.push(d)
    if (days.length > MAX_DAYS) throw new UsageError(`a range covers at most ${MAX_DAYS} days`)
  }
  return days
}

interface Scope {
  merchantId: string
  storeId: string | null
}

async function scopeOf(hub: OpenedHub, o: { store?: string; merchant?: string }): Promise<Scope> {
  const db = hub.database.db
  if (o.store) {
    const [s] = await db.select({ merchantId: stores.merchantId }).from(stores).where(eq(stores.id, o.store))
    if (!s) throw new UsageError(`no store ${o.store}`)
    if (o.merchant && o.merchant.toLowerCase() !== s.merchantId) throw new UsageError(`store ${o.store} is not a store of merchant ${o.merchant}`)
    return { merchantId: s.merchantId, storeId: o.store }
  }
  if (o.merchant) {
    const [m] = await db.select({ id: merchants.id }).from(merchants).where(eq(merchants.id, o.merchant))
    if (!m) throw new UsageError(`no merchant ${o.merchant}`)
    return { merchantId: m.id, storeId: null }
  }
  throw new UsageError('give --store (vouchers per store) or --merchant (vouchers per merchant)')
}

async function voucherJson(hub: OpenedHub, v: VoucherRow) {
  const { voucherLinesOf } = await import('../core/vouchers/service.ts')
  const lines = await voucherLinesOf(hub.database.db, v.id)
  return {
    id: v.id,
    reference: v.reference,
    kind: v.kind,
    status: v.status,
    businessDate: v.businessDate,
    postingDate: v.postingDate,
    storeId: v.storeId,
    word: v.word,
    totalDebit: v.totalDebit,
    totalCredit: v.totalCredit,
    rounding: v.rounding,
    problems: v.problems,
    lines: lines.map((l) => ({ lineNo: l.lineNo, account: l.accountCode, accountName: l.accountName, dimensions: l.dimensions, summary: l.summary, debit: l.debit, credit: l.credit })),
  }
}

const describe = (v: VoucherRow) =>
  `${v.reference} (${v.kind}, ${v.status}) ${v.businessDate}${v.postingDate !== v.businessDate ? ` posted ${v.postingDate}` : ''}: debit ${formatDecimal(v.totalDebit, v.currency)} = credit ${formatDecimal(v.totalCredit, v.currency)}${v.rounding ? `, rounding ${formatDecimal(v.rounding, v.currency)}` : ''}${v.problems.length ? ` — blocked: ${v.problems.map((p) => p.message).join('; ')}` : ''}`

export function registerVouchers(program: Command, open: () => Promise<OpenedHub>): void {
  const vouchers = program.command('vouchers').description('build and export daily accounting vouchers')

  vouchers
    .command('build')
    .description("build a store's (or the merchant's) voucher of a business day; a changed exported day is corrected")
    .option('--store <id>', 'the store', idArg('store'))
    .option('--merchant <id>', 'the merchant, when vouchers are built per merchant', idArg('merchant'))
    .requiredOption('--date <YYYY-MM-DD>', 'the business date', dateArg)
    .option('--json', 'print the voucher as JSON on the last line')
    .action(async (o: { store?: string; merchant?: string; date: string; json?: boolean }) => {
      const hub = await open()
      try {
        const { buildVoucher } = await import('../core/vouchers/service.ts')
        const scope = await scopeOf(hub, o)
        const r = await hub.database.db.transaction((tx) => buildVoucher(tx, { ...scope, businessDate: o.date }, hub.clock()))
        if (!r.voucher && r.corrections.length === 0) {
          process.stdout.write(`nothing happened on ${o.date}: no voucher\n`)
          if (o.json) process.stdout.write(`${JSON.stringify(null)}\n`)
          return
        }
        process.stdout.write(`${r.outcome}: ${r.voucher ? describe(r.voucher) : ''}\n`)
        for (const c of r.corrections) process.stdout.write(`correction: ${describe(c)}\n`)
        const main = r.corrections.length && r.outcome === 'corrected' && !r.voucher ? r.corrections[0]! : r.voucher!
        if (o.json) process.stdout.write(`${JSON.stringify({ ...(await voucherJson(hub, main)), outcome: r.outcome, corrections: await Promise.all(r.corrections.map((c) => voucherJson(hub, c))) })}\n`)
      } finally {
        await hub.close()
      }
    })

  vouchers
    .command('export')
    .description('build the day (or each day of a range) if needed and deliver its vouchers (with any corrections) to a finance connection, once')
    .option('--store <id>', 'the store', idArg('store'))
    .option('--merchant <id>', 'the merchant, when vouchers are built per merchant', idArg('merchant'))
    .option('--date <YYYY-MM-DD>', 'the business date', dateArg)
    .option('--from <YYYY-MM-DD>', 'the first business date of a range (with --to)', dateArg)
    .option('--to <YYYY-MM-DD>', 'the last business date of a range (with --from)', dateArg)
    .requiredOption('--connection <id>', 'the accounting connection', idArg('connection'))
    .option('--json', 'print the deliveries as JSON on the last line')
    .action(async (o: { store?: string; merchant?: string; date?: string; from?: string; to?: string; connection: string; json?: boolean }) => {
      const days = daysOf(o)
      const hub = await open()
      // Days done, on stderr, once a range has taken longer than a second.
      const progress = createProgress({ delayMs: 1000 }).step('vouchers', { total: days.length, unit: 'days' })
      try {
        const { buildVoucher, listVouchers } = await import('../core/vouchers/service.ts')
        const { exportVoucher, voucherConnection } = await import('../jobs/vouchers.ts')
        const scope = await scopeOf(hub, o)
        // The connection is checked before any day is built.
        await voucherConnection(hub, scope.merchantId, o.connection)
        const out = []
        for (const [i, date] of days.entries()) {
          await hub.database.db.transaction((tx) => buildVoucher(tx, { ...scope, businessDate: date }, hub.clock()))
          const day = (await listVouchers(hub.database.db, scope.merchantId, { from: date, to: date, storeId: scope.storeId ?? undefined, limit: 100 }))
            .filter((v) => (v.storeId ?? null) === scope.storeId && (v.status === 'built' || v.status === 'exported' || v.status === 'blocked'))
            .reverse()
          if (day.length === 0 && days.length === 1) throw new UsageError(`no voucher for ${date}: nothing happened that day`)
          for (const v of day) {
            if (v.status === 'blocked') throw new UsageError(`${v.reference} is blocked: ${v.problems.map((p) => p.message).join('; ')}`)
            const r = await exportVoucher(hub, { merchantId: scope.merchantId, voucherId: v.id, connectionId: o.connection }, { final: true })
            process.stdout.write(`${v.reference}: ${r.row.status}${r.sent ? '' : ' (delivered before; not sent again)'}${r.row.externalNumber ? ` as ${r.row.externalNumber}` : ''}${r.row.lastError ? ` — ${r.row.lastError}` : ''}\n`)
            out.push({ date, reference: v.reference, status: r.row.status, sent: r.sent, externalId: r.row.externalId, number: r.row.externalNumber, error: r.row.lastError })
            if (r.row.status === 'rejected') process.exitCode = 1
          }
          progress.update(i + 1)
        }
        progress.end()
        if (out.length === 0) throw new UsageError(`no voucher from ${days[0]} to ${days[days.length - 1]}: nothing happened on those days`)
        const range = days.length === 1 && o.date ? { date: o.date } : { from: days[0], to: days[days.length - 1] }
        if (o.json) process.stdout.write(`${JSON.stringify({ ...range, connectionId: o.connection, deliveries: out })}\n`)
      } finally {
        await hub.close()
      }
    })
}
