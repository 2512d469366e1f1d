// A statement file's content, wherever it is: in a file on disk (a downloaded bill, an upload, the CLI's `--file`)
// or in memory, read front to back as a stream of chunks, so that importing a bill of any size holds a chunk of it at
// a time. A zip archive on disk (Alipay's bill) is read there with random access.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { StatementFormatError } from './types.ts'

export interface StatementContent {
  readonly size: number
  /** The file's path when it is on disk: a zip archive is read from there with random access, never whole. */
  readonly path?: string
  /**
   * The file from its start, in chunks of at most 64 KiB. `transient`: the caller is done with each chunk before it
   * asks for the next (it hashes it, say, and keeps nothing), so a file on disk may be read into one buffer over and
   * over rather than leave a new one behind for every 64 KiB.
   */
  chunks(opts?: { transient?: boolean }): AsyncIterable<Buffer>
  /** The whole file in memory: for tests and for a file that is in memory already, never for one on disk. */
  bytes(): Buffer
}

const CHUNK_BYTES = 64 * 1024

/** A file already in memory. */
export function contentInMemory(bytes: Buffer): StatementContent {
  return {
    size: bytes.length,
    async *chunks() {
      for (let i = 0; i < bytes.length; i += CHUNK_BYTES) yield bytes.subarray(i, i + CHUNK_BYTES)
    },
    bytes: () => bytes,
  }
}

/**
 * A file on disk, read when its chunks are asked for; its size is taken now. Should the file change size while it is
 * read, reading fails rather than hand over another file than the one measured.
 */
export function contentOnDisk(path: string): StatementContent {
  const size = fs.statSync(path).size
  const changed = (read: number) => new Error(`${path} changed while it was read (${size} bytes when opened, ${read} read)`)
  return {
    size,
    path,
    async *chunks(opts) {
      const file = await fs.promises.open(path, 'r')
      try {
        const reused = opts?.transient ? Buffer.allocUnsafe(CHUNK_BYTES) : undefined
        let read = 0
        for (;;) {
          const into = reused ?? Buffer.allocUnsafe(CHUNK_BYTES)
          const { bytesRead } = await file.read(into, 0, CHUNK_BYTES, read)
          if (bytesRead === 0) break
          read += bytesRead
          if (read > size) throw changed(read)
          yield into.subarray(0, bytesRead)
        }
        if (read !== size) throw changed(read)
      } finally {
        await file.close()
      }
    },
    bytes: () => {
      const bytes = fs.readFileSync(path)
      if (bytes.length !== size) throw changed(bytes.length)
      return bytes
    },
  }
}

/** The file's first `n` bytes (fewer if it is shorter), without reading the rest. */
export async function contentHead(content: StatementContent, n: number): Promise<Buffer> {
  const head: Buffer[] = []
  let held = 0
  if (n > 0) {
    for await (const chunk of content.chunks()) {
      head.push(chunk.subarray(0, n - held))
      held += Math.min(chunk.length, n - held)
      if (held >= n) break
    }
  }
  return Buffer.concat(head)
}

/** Whether the whole file is valid UTF-8, read as a stream (a character split between chunks is joined). */
export async function isUtf8Content(content: StatementContent): Promise<boolean> {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  for await (const chunk of content.chunks({ transient: true })) {
    try {
      decoder.decode(chunk, { stream: true })
    } catch {
      return false
    }
  }
  try {
    decoder.decode()
    return true
  } catch {
    return false
  }
}

export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b

/**
 * The file's content as a stream of chunks: gunzipped as it is read when the file is gzip (told by its first bytes),
 * as it is otherwise; never whole. Damaged gzip data is a StatementFormatError.
 */
export async function* decompressedChunks(content: StatementContent): AsyncGenerator<Buffer> {
  const chunks = content.chunks()[Symbol.asyncIterator]()
  const first = await chunks.next()
  if (first.done) return
  const all = async function* () {
    yield first.value
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value
  }
  if (!isGzip(first.value)) {
    yield* all()
    return
  }
  const source = Readable.from(all(), { objectMode: false })
  const gunzip = createGunzip()
  // pipe() does not pass on the source's failure (the file could not be read): it ends the gunzip with it.
  let unread: unknown
  source.on('error', (e) => {
    unread = e
    gunzip.destroy(e)
  })
  source.pipe(gunzip)
  try {
    for await (const chunk of gunzip) yield chunk as Buffer
  } catch (e) {
    if (unread) throw unread
    throw new StatementFormatError(`the gzip data is damaged: ${e instanceof Error ? e.message : String(e)}`)
  } finally {
    source.destroy()
    gunzip.destroy()
  }
}

/**
 * A hash of the file, read as a stream: over its bytes as they are ('raw'), or over its content gunzipped as it is
 * read ('decompressed': what WeChat Pay v3 hashes).
 */
export async function contentDigest(content: StatementContent, algorithm: 'sha1' | 'sha256' | 'md5', over: 'raw' | 'decompressed'): Promise<string> {
  const h = createHash(algorithm)
  for await (const chunk of over === 'decompressed' ? decompressedChunks(content) : content.chunks({ transient: true })) h.update(chunk)
  return h.digest('hex')
}
