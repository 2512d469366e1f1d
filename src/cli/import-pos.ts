// `tillbridge import-pos`: a merchant moving over from another POS brings its catalog, members (with their opening
// points and stored value) and opening stock from that POS's CSV/XLSX exports, in one go and all or nothing.
// --dry-run checks every row of every file and writes nothing. Progress goes to stderr; stdout gets the outcome per
// file and each problem by line, and with --json the last line is one JSON object with every report.
import path from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { and, eq } from 'drizzle-orm'
import type { ImportKind } from '../core/imports/headers.ts'
import type { PosImportReport } from '../core/imports/report.ts'
import type { FileFormat, Table } from '../core/imports/table.ts'
import { merchants } from '../core/merchants/schema.ts'
import { systemActor } from '../core/staff/actor.ts'
import { stores } from '../core/stores/schema.ts'
import { isDomainError } from '../lib/errors.ts'
import { isUuid } from '../lib/ids.ts'
import { formatDecimal } from '../lib/money.ts'
import type { OpenedHub } from '../runtime.ts'
import { readInputFile as readFile, UsageError } from './errors.ts'
import { createProgress, type ProgressStep } from './progress.ts'

const idArg = (v: string) => {
  if (!isUuid(v)) throw new InvalidArgumentError('must be a merchant id (a UUID)')
  return v
}

/** Problems listed on stdout per file; the JSON has them all. */
const SHOWN = 50

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

function describe(r: PosImportReport, currency: string): string {
  const s = r.summary as Record<string, any>
  const would = r.applied ? '' : 'would '
  let what: string
  if (r.kind === 'catalog') {
    what = `${would}create ${plural(s.productsCreated, 'product')} and ${plural(s.variantsCreated, 'variant')}, ${would}update ${plural(s.variantsUpdated, 'variant')}, ${plural(s.variantsUnchanged, 'variant')} unchanged`
  } else if (r.kind === 'members') {
    what = `${would}create ${plural(s.created, 'member')} (opening points ${s.points}, stored value ${formatDecimal(s.storedValue, currency)} + bonus ${formatDecimal(s.storedBonus, currency)}), ${s.existing} existing skipped`
  } else if (s.alreadyImported) {
    what = 'imported before: nothing received again'
  } else {
    what = `${would}receive ${plural(s.lines, 'line')}, ${s.quantity} units worth ${formatDecimal(s.value, currency)} at cost`
  }
  const problems = r.errorCount ? `; ${plural(r.errorCount, 'problem')}` : ''
  return `${r.kind}: ${plural(r.rows, 'row')} — ${r.errorCount ? 'nothing imported' : what}${problems}`
}

/** Adds `import-pos` to the program; `open` opens the hub for the command. */
export function registerImportPos(program: Command, open: () => Promise<OpenedHub>): void {
  program
    .command('import-pos')
    .description("bring the catalog, members (with opening points and stored value) and opening stock over from another POS's CSV/XLSX exports, all or nothing")
    .requiredOption('--merchant <id>', 'the merchant', idArg)
    .requiredOption('--store <code>', "the store: members' home store and where opening stock goes")
    .option('--catalog <file>', 'the product list')
    .option('--members <file>', 'the member list')
    .option('--stock <file>', 'the stock quantities (opening stock)')
    .addOption(new Option('--format <format>', 'the files’ format').choices(['auto', 'csv', 'xlsx']).default('auto'))
    .option('--source <name>', 'the system the data comes from, named in the reason of opening balances', 'import')
    .option('--tax-category <code>', 'tax category of new products that name none (default: standard)')
    .option('--dry-run', 'check every row of every file and report, writing nothing')
    .option('--json', 'print every report as JSON on the last line')
    .addHelpText('after', '\nHeaders are recognised in Chinese and English (手机号/phone, 会员卡号/card no, 积分/points, 储值余额/balance, 条码/barcode, 库存/数量/qty, 成本/cost, …): see src/core/imports/headers.ts or GET /docs (Imports).\nTILLBRIDGE_PROGRESS=never silences the progress lines on stderr.')
    .action(
      async (o: { merchant: string; store: string; catalog?: string; members?: string; stock?: string; format: FileFormat | 'auto'; source: string; taxCategory?: string; dryRun?: boolean; json?: boolean }) => {
        const given = (['catalog', 'members', 'stock'] as const).filter((k) => o[k] !== undefined)
        if (given.length === 0) throw new UsageError('give at least one of --catalog, --members, --stock')
        const source = o.source.trim()
        if (!source || source.length > 60) throw new UsageError('--source must be 1–60 characters')
        const bytes = Object.fromEntries(given.map((k) => [k, readFile(o[k]!)])) as Partial<Record<ImportKind, Buffer>>
        const progress = createProgress()
        const hub = await open()
        try {
          const { importPos } = await import('../core/imports/service.ts')
          const { storeByCode } = await import('../core/imports/stock.ts')
          const { readTable } = await import('../core/imports/table.ts')
          const db = hub.database.db
          const [m] = await db.select({ id: merchants.id, currency: merchants.currency }).from(merchants).where(eq(merchants.id, o.merchant))
          if (!m) throw new UsageError(`no merchant ${o.merchant}`)
          let storeId: string
          try {
            storeId = await storeByCode(db, m.id, o.store)
          } catch (e) {
            if (isDomainError(e)) throw new UsageError(`merchant ${o.merchant} has no store with code ${o.store}`)
            throw e
          }
          const [store] = await db.select({ code: stores.code }).from(stores).where(and(eq(stores.id, storeId), eq(stores.merchantId, m.id)))

          const tables: Partial<Record<ImportKind, Table>> = {}
          for (const k of given) {
            const step = progress.step(`${k} read`, { unit: 'bytes', total: bytes[k]!.length })
            try {
              tables[k] = await readTable(bytes[k]!, o.format)
            } catch (e) {
              if (isDomainError(e)) throw new UsageError(`${path.basename(o[k]!)}: ${e.message}`)
              throw e
            }
            step.end({ done: bytes[k]!.length })
          }

          const steps = new Map<string, ProgressStep>()
          const result = await importPos(db, systemActor(m.id, 'import-pos'), tables, {
            dryRun: o.dryRun === true,
            source,
            storeId,
            taxCategory: o.taxCategory,
            onProgress: ({ kind, phase, done, total }) => {
              const label = `${kind} ${phase}`
              let step = steps.get(label)
              if (!step) {
                for (const [l, s] of steps) if (l !== label) s.end()
                step = progress.step(label, { total, unit: phase === 'check' ? 'rows' : kind === 'stock' ? 'lines' : kind === 'members' ? 'members' : 'rows' })
                steps.set(label, step)
              }
              step.update(done, total)
              if (done >= total) {
                step.end({ done, total })
              }
            },
          })
          for (const s of steps.values()) s.end()

          for (const k of given) {
            const r = result.reports[k]!
            process.stdout.write(`${describe(r, m.currency)}${o.dryRun ? ' (dry run)' : ''}\n`)
            for (const e of r.errors.slice(0, SHOWN)) process.stdout.write(`  line ${e.line}${e.column ? ` [${e.column}]` : ''}: ${e.message} (${e.code})\n`)
            if (r.errors.length > SHOWN) process.stdout.write(`  … and ${r.errorCount - SHOWN} more (see --json)\n`)
            for (const w of r.warnings) process.stdout.write(`  note: ${w}\n`)
          }
          if (o.json) {
            process.stdout.write(`${JSON.stringify({ merchantId: m.id, store: store!.code, dryRun: result.dryRun, applied: result.applied, errorCount: result.errorCount, reports: result.reports })}\n`)
          }
          if (result.errorCount > 0) {
            throw new ImportRefused(`${plural(result.errorCount, 'problem')} in the files; nothing was imported${o.dryRun ? ' (dry run)' : ''}`)
          }
        } finally {
          await hub.close()
        }
      },
    )
}

/** Files with problems: one line on stderr and exit status 1 (reportAndExit prints any Error that way). */
export class ImportRefused extends Error {}
