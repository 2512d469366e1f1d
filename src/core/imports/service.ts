// Moving a merchant over from another POS: its catalog, members (with opening points and stored value) and opening
// stock, from the CSV/XLSX files that POS exports. One kind at a time (the API), or all three at once in one
// transaction (the command line): catalog first, so the stock file can name the SKUs it creates.
//
// A dry run checks every row of every file and writes nothing. An import writes everything or nothing: any bad row
// in any file rolls the whole import back. Running an import again is safe (see each kind for how).
import type { Db, Tx } from '../../db/client.ts'
import { badRequest } from '../../lib/errors.ts'
import type { Actor } from '../staff/actor.ts'
import { importPosCatalog } from './catalog.ts'
import type { ImportKind } from './headers.ts'
import { importMembers } from './members.ts'
import type { ImportOptions, PosImportReport } from './report.ts'
import { importOpeningStock } from './stock.ts'
import type { Table } from './table.ts'

export interface KindOptions extends ImportOptions {
  /** The store: members' home store; the store whose locations opening stock goes to (required for stock). */
  storeId?: string | null
  /** Tax category code for new products that name none (default 'standard'). */
  taxCategory?: string
}

/** Imports one file of one kind in the caller's transaction. */
export async function runImport(tx: Tx, actor: Actor, kind: ImportKind, table: Table, opts: KindOptions): Promise<PosImportReport> {
  await opts.onProgress?.({ kind, phase: 'check', done: 0, total: table.rows.length })
  if (kind === 'catalog') {
    const r = await importPosCatalog(tx, actor, table, opts)
    await opts.onProgress?.({ kind, phase: 'check', done: table.rows.length, total: table.rows.length })
    if (r.applied) await opts.onProgress?.({ kind, phase: 'write', done: r.rows, total: r.rows })
    return r
  }
  if (kind === 'members') return importMembers(tx, actor, table, opts)
  if (!opts.storeId) throw badRequest('store_required', 'opening stock goes to a store: name it (store code)')
  return importOpeningStock(tx, actor, table, { ...opts, storeId: opts.storeId })
}

export interface PosImportResult {
  dryRun: boolean
  /** Everything was written (never for a dry run or when any file has a problem). */
  applied: boolean
  errorCount: number
  reports: Partial<Record<ImportKind, PosImportReport>>
}

class Rollback extends Error {}

/**
 * Imports the files given, in the order catalog, members, stock, in one transaction. A dry run writes the catalog
 * into that transaction only when a stock file needs its SKUs, and rolls it all back.
 */
export async function importPos(db: Db, actor: Actor, files: Partial<Record<ImportKind, Table>>, opts: KindOptions): Promise<PosImportResult> {
  const kinds = (['catalog', 'members', 'stock'] as const).filter((k) => files[k])
  if (kinds.length === 0) throw badRequest('no_files', 'give at least one file: catalog, members or stock')
  const reports: PosImportResult['reports'] = {}
  let errorCount = 0
  // A dry run's catalog written into the doomed transaction is not progress anybody should see.
  const onProgress: KindOptions['onProgress'] = opts.onProgress && ((e) => (opts.dryRun && e.phase === 'write' ? undefined : opts.onProgress!(e)))
  try {
    await db.transaction(async (tx) => {
      for (const kind of kinds) {
        // Once a file has problems nothing will be written: the others are only checked.
        const checkOnly = opts.dryRun || errorCount > 0
        const writeCatalog = kind === 'catalog' && files.stock !== undefined && errorCount === 0
        const r = await runImport(tx, actor, kind, files[kind]!, { ...opts, onProgress, dryRun: checkOnly && !writeCatalog })
        reports[kind] = r
        errorCount += r.errorCount
      }
      if (opts.dryRun || errorCount > 0) throw new Rollback()
    })
  } catch (e) {
    if (!(e instanceof Rollback)) throw e
  }
  const applied = !opts.dryRun && errorCount === 0
  for (const r of Object.values(reports)) {
    r.dryRun = opts.dryRun
    if (!applied && r.applied) {
      r.applied = false
      if (!opts.dryRun) r.warnings.push('nothing was imported: another file of this import has problems')
    }
  }
  return { dryRun: opts.dryRun, applied, errorCount, reports }
}
