// `tillbridge vouchers build|export`: finance staff or a scheduler build a store's daily voucher and deliver it from
// the shell. With --json the last line of stdout is the voucher: its head and lines (account, debit, credit, 摘要)
// in minor units.
import { InvalidArgumentError, type Command } from 'commander'
import { eq } from 'drizzle-orm'
import { stores } from '../core/stores/schema.ts'
import { merchants } from '../core/merchants/schema.ts'
import { buildVoucher, listVouchers, voucherLinesOf, type VoucherRow } from '../core/vouchers/service.ts'
import { exportVoucher } from '../jobs/vouchers.ts'
import { formatDecimal } from '../lib/money.ts'
import { isUuid } from '../lib/ids.ts'
import { isDate } from '../lib/time.ts'
import type { OpenedHub } from '../runtime.ts'
import { UsageError } from './errors.ts'

const idArg = (what: string) => (v: string) => {
  if (!isUuid(v)) throw new InvalidArgumentError(`must be a ${what} id (a UUID)`)
  return v
}
const dateArg = (v: string) => {
  if (!isDate(v)) throw new InvalidArgumentError('must be a date YYYY-MM-DD')
  return v
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
  `${v.reference} (${v.kind}, ${v.status}) ${v.businessDate}${v.postingDate !== v.businessDate ? ` posted ${v.postingDate}` : ''}: debit ${formatDecimal(v.totalDebit)} = credit ${formatDecimal(v.totalCredit)}${v.rounding ? `, rounding ${formatDecimal(v.rounding)}` : ''}${v.problems.length ? ` — blocked: ${v.problems.map((p) => p.message).join('; ')}` : ''}`

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
    .description('build the day if needed and deliver its vouchers (with any corrections) to a finance connection, once')
    .option('--store <id>', 'the store', idArg('store'))
    .option('--merchant <id>', 'the merchant, when vouchers are built per merchant', idArg('merchant'))
    .requiredOption('--date <YYYY-MM-DD>', 'the business date', dateArg)
    .requiredOption('--connection <id>', 'the accounting connection', idArg('connection'))
    .option('--json', 'print the deliveries as JSON on the last line')
    .action(async (o: { store?: string; merchant?: string; date: string; connection: string; json?: boolean }) => {
      const hub = await open()
      try {
        const scope = await scopeOf(hub, o)
        await hub.database.db.transaction((tx) => buildVoucher(tx, { ...scope, businessDate: o.date }, hub.clock()))
        const day = (await listVouchers(hub.database.db, scope.merchantId, { from: o.date, to: o.date, storeId: scope.storeId ?? undefined, limit: 100 }))
          .filter((v) => (v.storeId ?? null) === scope.storeId && (v.status === 'built' || v.status === 'exported' || v.status === 'blocked'))
          .reverse()
        if (day.length === 0) throw new UsageError(`no voucher for ${o.date}: nothing happened that day`)
        const out = []
        for (const v of day) {
          if (v.status === 'blocked') throw new UsageError(`${v.reference} is blocked: ${v.problems.map((p) => p.message).join('; ')}`)
          const r = await exportVoucher(hub, { merchantId: scope.merchantId, voucherId: v.id, connectionId: o.connection }, { final: true })
          process.stdout.write(`${v.reference}: ${r.row.status}${r.sent ? '' : ' (delivered before; not sent again)'}${r.row.externalNumber ? ` as ${r.row.externalNumber}` : ''}${r.row.lastError ? ` — ${r.row.lastError}` : ''}\n`)
          out.push({ reference: v.reference, status: r.row.status, sent: r.sent, externalId: r.row.externalId, number: r.row.externalNumber, error: r.row.lastError })
          if (r.row.status === 'rejected') process.exitCode = 1
        }
        if (o.json) process.stdout.write(`${JSON.stringify({ date: o.date, connectionId: o.connection, deliveries: out })}\n`)
      } finally {
        await hub.close()
      }
    })
}
