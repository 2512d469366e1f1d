// The merchant archive: one portable, versioned file that carries a merchant with everything it owns from one hub to
// another (`tillbridge export` / `tillbridge import`, src/cli/backup.ts). This module knows its layout and reads it
// back entry by entry; export.ts fills it, import.ts empties it.
//
// Layout — a zip (written by yazl, read by yauzl):
//   manifest.json          { format: "tillbridge-merchant-archive", version: 1, exportedAt, hubVersion,
//                            migration: the last tag of drizzle/meta/_journal.json of the hub that wrote it,
//                            merchant: { id, name },
//                            tables: [{ name, file, rows, sha256 (hex, of the file's bytes), columns }] }
//   tables/<table>.jsonl   one row per line, exactly as PostgreSQL renders it with row_to_json (so bigint, numeric,
//                          jsonb, arrays, bytea and timestamps with microseconds survive unchanged), primary key order.
// Which tables: found from the database (catalog.ts) — every table of schema public with merchant_id, the merchants
// row itself, and the children that hang off them. Not carried: sessions (staff sign in again), worker heartbeats,
// graphile-worker's queue (jobs queued at export time: the import queues again the work the restored rows wait for,
// see requeueWork in import.ts, and the recurring tasks pick up the rest) and drizzle's migration log. Kept: users
// with their password hashes, API key hashes, the audit log, events, every ledger. Connection credentials and webhook
// signing secrets stay sealed with the writing hub's TILLBRIDGE_SECRET_KEY; till PINs stay MACed under it. The
// archive therefore holds password hashes and sealed secrets: keep it like a database backup. The checksums catch a
// damaged or edited file, not a forger who also rewrites the manifest.
//
// Versions: `version` changes when this layout changes. An archive is imported only by a hub that has its migration
// (same or later schema); columns a later migration added take their defaults.
import fs from 'node:fs'
import path from 'node:path'
import { createHash, type Hash } from 'node:crypto'
import { PassThrough, type Readable } from 'node:stream'
import yauzl from 'yauzl'
import { z } from 'zod'
import { MIGRATIONS_FOLDER } from '../../db/migrate.ts'
import { DomainError, invalid } from '../../lib/errors.ts'

export const ARCHIVE_FORMAT = 'tillbridge-merchant-archive'
export const ARCHIVE_VERSION = 1
export const MANIFEST = 'manifest.json'
export const tableFile = (table: string) => `tables/${table}.jsonl`

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024

export const ManifestSchema = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  version: z.number().int(),
  exportedAt: z.string(),
  hubVersion: z.string(),
  /** The last database migration of the hub that wrote the archive (a tag of drizzle/meta/_journal.json). */
  migration: z.string(),
  merchant: z.object({ id: z.uuid(), name: z.string() }),
  tables: z.array(
    z.object({
      name: z.string().regex(/^[a-z_][a-z0-9_]*$/),
      file: z.string(),
      rows: z.number().int().min(0),
      /** Hex SHA-256 of the file's bytes as stored (before compression). */
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      columns: z.array(z.string()).min(1),
    }),
  ),
})
export type Manifest = z.infer<typeof ManifestSchema>
export type ManifestTable = Manifest['tables'][number]

export function hubVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** The tags of this hub's migrations, oldest first (drizzle's journal). */
export function migrationTags(): string[] {
  const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: { idx: number; tag: string }[] }
  return [...journal.entries].sort((a, b) => a.idx - b.idx).map((e) => e.tag)
}

/** The tables the migrations up to and including `tag` create: every archive written at that migration holds each one of them this hub carries. */
export function tablesThrough(tag: string): Set<string> {
  const out = new Set<string>()
  for (const t of migrationTags()) {
    const text = fs.readFileSync(path.join(MIGRATIONS_FOLDER, `${t}.sql`), 'utf8')
    for (const m of text.matchAll(/create table (?:if not exists )?(?:"?public"?\.)?"?([a-z_0-9]+)"?/gi)) out.add(m[1]!)
    if (t === tag) break
  }
  return out
}

export const archiveError = (message: string, details?: unknown) => invalid('archive_invalid', message, details)

/** An entry whose compressed bytes do not inflate (zlib, or yauzl's size checks): classified, naming the entry. */
export const damagedEntry = (file: string, cause: unknown) =>
  cause instanceof DomainError
    ? cause
    : archiveError(`${file} cannot be read (${(cause as Error)?.message ?? String(cause)}): the archive was changed or damaged; nothing was written`, { file })

export interface OpenArchive {
  manifest: Manifest
  /** The entry's bytes as a stream (inflated). */
  open(file: string): Promise<Readable>
  has(file: string): boolean
  close(): void
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of stream) {
    size += (c as Buffer).length
    if (size > limit) throw archiveError(`${MANIFEST} is larger than ${limit} bytes`)
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks)
}

export async function openArchive(file: string): Promise<OpenArchive> {
  if (!fs.existsSync(file)) throw invalid('archive_not_found', `no file ${file}`)
  let zip: yauzl.ZipFile
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: true })
  } catch (e) {
    throw archiveError(`${file} is not a merchant archive (not a readable zip: ${(e as Error).message})`)
  }
  try {
    const entries = new Map<string, yauzl.Entry>()
    for await (const entry of zip.eachEntry()) {
      if (entries.has(entry.fileName)) throw archiveError(`the archive holds ${entry.fileName} twice`)
      entries.set(entry.fileName, entry)
    }
    const m = entries.get(MANIFEST)
    if (!m) throw archiveError(`the archive has no ${MANIFEST}: not a merchant archive`)
    let raw: unknown
    try {
      raw = JSON.parse((await readAll(await zip.openReadStreamPromise(m), MAX_MANIFEST_BYTES)).toString('utf8'))
    } catch (e) {
      if (e instanceof DomainError) throw e
      throw archiveError(`${MANIFEST} is not JSON`)
    }
    const format = (raw as { format?: unknown } | null)?.format
    if (format !== ARCHIVE_FORMAT) throw invalid('archive_format', `not a merchant archive: format is ${JSON.stringify(format)}, expected "${ARCHIVE_FORMAT}"`)
    const version = (raw as { version?: unknown }).version
    if (version !== ARCHIVE_VERSION) throw invalid('archive_version', `archive version ${JSON.stringify(version)} is not supported (this hub reads version ${ARCHIVE_VERSION})`)
    const parsed = ManifestSchema.safeParse(raw)
    if (!parsed.success) throw archiveError(`${MANIFEST} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
    const manifest = parsed.data
    const described = new Set([MANIFEST, ...manifest.tables.map((t) => t.file)])
    for (const t of manifest.tables) {
      if (t.file !== tableFile(t.name)) throw archiveError(`table ${t.name} must be stored as ${tableFile(t.name)}, not ${t.file}`)
      if (!entries.has(t.file)) throw archiveError(`the archive lacks ${t.file}, which its manifest lists`)
    }
    if (new Set(manifest.tables.map((t) => t.name)).size !== manifest.tables.length) throw archiveError('the manifest lists a table twice')
    const extra = [...entries.keys()].filter((n) => !described.has(n))
    if (extra.length) throw archiveError(`the archive holds files its manifest does not describe: ${extra.join(', ')}`)
    return {
      manifest,
      has: (f) => entries.has(f),
      open: async (f) => {
        let raw: Readable
        try {
          raw = await zip.openReadStreamPromise(entries.get(f)!)
        } catch (e) {
          throw damagedEntry(f, e)
        }
        // Errors met while inflating arrive on the stream: its reader sees them classified.
        const out = new PassThrough()
        raw.on('error', (e) => out.destroy(damagedEntry(f, e)))
        return raw.pipe(out)
      },
      close: () => zip.close(),
    }
  } catch (e) {
    zip.close()
    throw e
  }
}

/**
 * The lines of a JSON-lines stream (each ends with "\n"; rows never hold a raw newline: JSON escapes it), feeding
 * every byte to `digest` on the way.
 */
export async function* jsonLines(stream: Readable, digest: Hash, file = 'an entry of the archive'): AsyncGenerator<string> {
  let carry: Buffer = Buffer.alloc(0)
  for await (const chunk of readClassified(stream, file)) {
    const buf = chunk as Buffer
    digest.update(buf)
    let data = carry.length ? Buffer.concat([carry, buf]) : buf
    let at = 0
    for (;;) {
      const nl = data.indexOf(0x0a, at)
      if (nl < 0) break
      yield data.toString('utf8', at, nl)
      at = nl + 1
    }
    carry = at < data.length ? Buffer.from(data.subarray(at)) : Buffer.alloc(0)
    data = carry
  }
  // A last line without its newline is still a line: the file's checksum decides whether it belongs there.
  if (carry.length) yield carry.toString('utf8')
}

async function* readClassified(stream: Readable, file: string): AsyncGenerator<unknown> {
  try {
    for await (const chunk of stream) yield chunk
  } catch (e) {
    throw damagedEntry(file, e)
  }
}

export const sha256 = (): Hash => createHash('sha256')
