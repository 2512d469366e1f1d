// Bills that arrive as a zip of GBK text files whose entry names are GBK too, without the UTF-8 flag (Alipay's bill,
// UnionPay's settlement zip). This opens the zip, names its entries correctly, and streams an entry as numbered text
// lines without ever holding the whole text.
import type { Readable } from 'node:stream'
import iconv from 'iconv-lite'
import yauzl from 'yauzl'
import type { StatementContent } from '../../core/reconciliation/file.ts'
import { StatementFormatError } from '../../core/reconciliation/types.ts'

/** GB18030 is a superset of GBK: every GBK byte sequence decodes the same, and rarer characters still decode. */
export const BILL_ENCODING = 'gb18030'

export interface BillEntry {
  /** The entry's base name, decoded (GBK unless the entry says UTF-8). */
  name: string
  entry: yauzl.Entry
}

export interface BillZip {
  entries: BillEntry[]
  /**
   * An entry's bytes, read as they are iterated (the entry is opened then, not before: an entry opened and left
   * unread would raise its damage where nobody listens). Damage (bad deflate data, a wrong CRC or size) is a
   * StatementFormatError naming the entry.
   */
  chunks(entry: BillEntry): AsyncIterable<Buffer>
  /** Closes the archive's file (a zip opened from disk); nothing for one in memory. */
  close(): void
}

export const isZip = (bytes: Buffer): boolean => bytes.length >= 4 && bytes.readUInt32LE(0) === 0x04034b50

/** Decodes an entry name: UTF-8 when general purpose bit 11 says so, GBK otherwise (what Alipay's zips use). */
export function entryName(flags: number, raw: Buffer): string {
  const full = flags & 0x800 ? raw.toString('utf8') : iconv.decode(raw, BILL_ENCODING)
  return full.slice(full.replace(/\\/g, '/').lastIndexOf('/') + 1)
}

/** Opens a bill zip in memory, or on disk by its path (read with random access: the archive is never held whole). */
export async function openBillZip(source: Buffer | string): Promise<BillZip> {
  // decodeStrings: false keeps the raw name bytes; yauzl would read them as CP437 and refuse GBK trail bytes 0x5C.
  const options = { lazyEntries: true, decodeStrings: false, validateEntrySizes: true }
  // autoClose off: the entries are listed before any is read, and the file must stay open until they are.
  const zip = typeof source === 'string' ? await yauzl.openPromise(source, { ...options, autoClose: false }) : await yauzl.fromBufferPromise(source, options)
  const entries: BillEntry[] = []
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entryName(entry.generalPurposeBitFlag, entry.fileNameRaw)
      if (name !== '') entries.push({ name, entry })
    }
  } catch (e) {
    // A broken central directory: the file is closed here, not left open for the collector to find.
    zip.close()
    throw e
  }
  return { entries, chunks: (e) => entryChunks(() => zip.openReadStreamPromise(e.entry), e.name), close: () => zip.close() }
}

async function* entryChunks(open: () => Promise<Readable>, name: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of await open()) yield chunk as Buffer
  } catch (e) {
    throw new StatementFormatError(`${name} in the zip is damaged: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Opens a statement that is a zip (on disk by its path, else in memory); an archive that cannot be read is a format error. */
export async function openStatementZip(content: StatementContent): Promise<BillZip> {
  try {
    return await openBillZip(content.path ?? content.bytes())
  } catch (e) {
    throw new StatementFormatError(`not a readable zip: ${e instanceof Error ? e.message : String(e)}`)
  }
}

export interface TextLine {
  /** 1-based. */
  lineNo: number
  text: string
}

/** Decodes GBK chunks and splits them into lines (`\n` or `\r\n`), numbering from 1. A final line without `\n` counts. */
export async function* textLines(chunks: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>): AsyncGenerator<TextLine> {
  const decoder = iconv.getDecoder(BILL_ENCODING)
  let carry = ''
  let lineNo = 0
  const split = function* (text: string, final: boolean): Generator<TextLine> {
    carry += text
    let at = 0
    for (;;) {
      const nl = carry.indexOf('\n', at)
      if (nl < 0) break
      let line = carry.slice(at, nl)
      if (line.endsWith('\r')) line = line.slice(0, -1)
      lineNo++
      yield { lineNo, text: lineNo === 1 ? line.replace(/^\uFEFF/, '') : line }
      at = nl + 1
    }
    carry = carry.slice(at)
    if (final && carry !== '') {
      lineNo++
      yield { lineNo, text: carry.endsWith('\r') ? carry.slice(0, -1) : carry }
      carry = ''
    }
  }
  for await (const chunk of chunks) yield* split(decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)), false)
  yield* split(decoder.end() ?? '', true)
}

/** One CSV line into cells. Alipay does not quote, but a quoted cell (a re-saved file) is read per RFC 4180. */
export function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',')
  const cells: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"'
        i++
      } else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"' && cell === '') quoted = true
    else if (c === ',') {
      cells.push(cell)
      cell = ''
    } else cell += c
  }
  cells.push(cell)
  return cells
}

/** Alipay appends a TAB to id-like cells so Excel keeps their digits; surrounding blanks carry no meaning either. */
export function cleanCell(cell: string): string {
  if (cell === '') return cell
  const first = cell.charCodeAt(0)
  const last = cell.charCodeAt(cell.length - 1)
  // Most cells need nothing: skip the regex for them (this runs for every cell of every row).
  if (first > 32 && first !== 0xfeff && first !== 0x3000 && last > 32 && last !== 0x3000) return cell
  return cell.replace(/^[\s\uFEFF]+|\s+$/g, '')
}
