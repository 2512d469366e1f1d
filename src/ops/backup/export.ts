// Writes one merchant's whole data set into a merchant archive (its format: ./archive.ts). Every table is read in one
// repeatable-read snapshot, streamed by COPY straight into the zip, so the archive is consistent while the hub keeps
// selling and memory stays flat whatever the size. The file appears under its name only once complete.
import fs from 'node:fs'
import path from 'node:path'
import { Transform } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import { to as copyTo } from 'pg-copy-streams'
import yazl from 'yazl'
import type { Hub } from '../../runtime.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { ARCHIVE_FORMAT, ARCHIVE_VERSION, MANIFEST, hubVersion, migrationTags, sha256, tableFile, type Manifest } from './archive.ts'
import { SKIPPED_TABLES, qualified, quoteIdent, quoteLiteral, readCatalog, scopeSql } from './catalog.ts'

export interface ExportOptions {
  merchantId: string
  out: string
  /** Replace `out` if it exists. */
  force?: boolean
  onProgress?: (message: string) => void
}

export interface ExportResult {
  file: string
  manifest: Manifest
  rows: number
  bytes: number
}

export async function exportMerchant(hub: Pick<Hub, 'database' | 'clock'>, o: ExportOptions): Promise<ExportResult> {
  if (!isUuid(o.merchantId)) throw invalid('invalid_merchant_id', `${o.merchantId} is not a merchant id (a UUID)`)
  if (fs.existsSync(o.out) && !o.force) throw invalid('file_exists', `${o.out} exists: choose another name or replace it with --force`)
  // Checked first: a write that fails mid-export leaves the copy with nowhere to go.
  const dir = path.dirname(path.resolve(o.out))
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw invalid('no_such_directory', `${dir} is not a directory: create it first`)
  if (fs.statSync(o.out, { throwIfNoEntry: false })?.isDirectory()) throw invalid('file_exists', `${o.out} is a directory: name the archive file`)
  const progress = o.onProgress ?? (() => {})
  const client = await hub.database.pool.connect()
  const partial = `${o.out}.partial-${process.pid}`
  let output: fs.WriteStream | undefined
  let broken = false
  try {
    await client.query('begin isolation level repeatable read, read only')
    // Timestamps in the rows are written with an explicit UTC offset, whatever this server's zone.
    await client.query(`set local timezone = 'UTC'`)
    const m = await client.query<{ id: string; name: string }>('select id, name from public.merchants where id = $1', [o.merchantId])
    if (!m.rows[0]) throw notFound('merchant', o.merchantId)
    const catalog = await readCatalog(client)
    if (catalog.unclassified.length) {
      throw invalid(
        'unclassified_tables',
        `tables ${catalog.unclassified.join(', ')} neither carry merchant_id nor hang off a merchant table: classify them in src/ops/backup/catalog.ts before exporting (nothing was written)`,
        { tables: catalog.unclassified },
      )
    }
    const exportedAt = hub.clock()
    const merchant = quoteLiteral(o.merchantId)
    const zip = new yazl.ZipFile()
    const zipFailed = new Promise<never>((_, reject) => zip.on('error', reject))
    zipFailed.catch(() => {})
    output = fs.createWriteStream(partial, { flags: o.force ? 'w' : 'wx', mode: 0o600 })
    const written = pipeline(zip.outputStream, output)
    written.catch(() => {})

    const tables: Manifest['tables'] = []
    let total = 0
    progress(`exporting merchant ${m.rows[0].name} (${o.merchantId}): ${catalog.tables.length} tables; not carried: ${Object.keys(SKIPPED_TABLES).join(', ')}, queued jobs`)
    for (const t of catalog.tables) {
      const columns = t.columns.filter((c) => !c.generated).map((c) => c.name)
      const order = t.primaryKey.length ? ` order by ${t.primaryKey.map((c) => `t0.${quoteIdent(c)}`).join(', ')}` : ''
      // CSV with a delimiter and quote that JSON never holds raw (control characters are escaped), so each line is
      // exactly the row's JSON text, untouched by COPY's escaping.
      const sql = `copy (select row_to_json(t0) from ${qualified(t.name)} t0 where ${scopeSql(catalog, t, 't0', merchant)}${order}) to stdout with (format csv, delimiter e'\\x02', quote e'\\x01')`
      const digest = sha256()
      let rows = 0
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          digest.update(chunk)
          for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) rows++
          done(null, chunk)
        },
      })
      const copy = client.query(copyTo(sql))
      zip.addReadStream(meter, tableFile(t.name), { mtime: exportedAt })
      await Promise.race([Promise.all([pipeline(copy, meter), finished(meter)]), zipFailed])
      tables.push({ name: t.name, file: tableFile(t.name), rows, sha256: digest.digest('hex'), columns })
      total += rows
      if (rows > 0) progress(`  ${t.name}: ${rows} rows`)
    }

    const tags = migrationTags()
    const manifest: Manifest = {
      format: ARCHIVE_FORMAT,
      version: ARCHIVE_VERSION,
      exportedAt: exportedAt.toISOString(),
      hubVersion: hubVersion(),
      migration: tags[tags.length - 1]!,
      merchant: { id: m.rows[0].id, name: m.rows[0].name },
      tables,
    }
    zip.addBuffer(Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), MANIFEST, { mtime: exportedAt })
    zip.end()
    await Promise.race([written, zipFailed])
    await client.query('rollback')
    fs.renameSync(partial, o.out)
    const bytes = fs.statSync(o.out).size
    progress(`wrote ${o.out}: ${total} rows in ${tables.length} tables, ${bytes} bytes`)
    return { file: o.out, manifest, rows: total, bytes }
  } catch (e) {
    output?.destroy()
    fs.rmSync(partial, { force: true })
    // The connection may be mid-COPY: close it rather than wait for it (the server rolls the snapshot back).
    broken = true
    throw e
  } finally {
    client.release(broken)
  }
}
