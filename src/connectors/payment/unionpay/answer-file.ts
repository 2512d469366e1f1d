// A gateway answer read from the file it was downloaded to, without holding it whole. The file-transfer answer carries
// the day's settlement zip in one field (fileContent: the zip DEFLATE-compressed and base64-encoded), as large as the
// day is busy; every other field is a few bytes. Small fields are read into memory; a large one is kept as its byte
// range in the file, and hashed and decoded from there as a stream. The rules are parseAnswer's (signing.ts): pairs
// split at each &, the name ending at the first =, nothing decoded.
import { createHash, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import { verifyDigest } from './signing.ts'

/** Values up to this many bytes are held; longer ones stay on disk. */
const HOLD_BYTES = 64 * 1024
/** A field name is short; a longer run without = is not a gateway answer. */
const MAX_NAME_BYTES = 256
const AMP = 0x26
const EQ = 0x3d
const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d

export interface ByteRange {
  start: number
  /** Exclusive. */
  end: number
}

export interface AnswerOnDisk {
  path: string
  /** The fields held in memory. */
  fields: Record<string, string>
  /** The fields too large to hold, by their place in the file. */
  large: Record<string, ByteRange>
}

export class NotAnAnswerError extends Error {}

/**
 * Reads the answer at `path`: small fields into memory, large ones as byte ranges, and so are the fields named in
 * `onDisk` whatever their size (an empty one is left out, like any empty field of a signing string).
 */
export async function readAnswerFile(path: string, opts: { onDisk?: string[]; holdBytes?: number; chunkBytes?: number } = {}): Promise<AnswerOnDisk> {
  const hold = opts.holdBytes ?? HOLD_BYTES
  const onDisk = new Set(opts.onDisk)
  const fields: Record<string, string> = {}
  const large: Record<string, ByteRange> = {}
  let inName = true
  let name: Buffer[] = []
  let nameBytes = 0
  let current = ''
  let value: Buffer[] = []
  let valueBytes = 0
  let valueStart = 0
  let offset = 0

  /** Ends the value of `current` at byte `end`; the answer's last value loses its trailing whitespace. */
  const endValue = async (end: number, last: boolean) => {
    if (!current || (onDisk.has(current) && valueBytes === 0)) {
      // An empty name (text starting with =) is dropped, as parseAnswer drops it; so is an empty field kept on disk.
      delete fields[current]
      delete large[current]
    } else if (valueBytes > hold || onDisk.has(current)) {
      large[current] = { start: valueStart, end: last ? end - (await trailingSpace(path, end, valueStart)) : end }
      delete fields[current]
    } else {
      const text = Buffer.concat(value).toString('utf8')
      fields[current] = last ? text.trimEnd() : text
      delete large[current]
    }
    value = []
    valueBytes = 0
  }

  for await (const chunk of fs.createReadStream(path, { highWaterMark: opts.chunkBytes ?? 64 * 1024 }) as AsyncIterable<Buffer>) {
    let i = 0
    while (i < chunk.length) {
      if (inName) {
        const eq = chunk.indexOf(EQ, i)
        const amp = chunk.indexOf(AMP, i)
        if (amp !== -1 && (eq === -1 || amp < eq)) {
          // A pair without a name's =: skipped, as the SDKs do.
          name = []
          nameBytes = 0
          i = amp + 1
          continue
        }
        const stop = eq === -1 ? chunk.length : eq
        name.push(Buffer.from(chunk.subarray(i, stop)))
        nameBytes += stop - i
        if (nameBytes > MAX_NAME_BYTES) throw new NotAnAnswerError(`not a UnionPay gateway answer: a field name runs past ${MAX_NAME_BYTES} bytes at byte ${offset + i}`)
        if (eq === -1) break
        current = Buffer.concat(name).toString('utf8').trim()
        name = []
        nameBytes = 0
        inName = false
        valueStart = offset + eq + 1
        i = eq + 1
      } else {
        const amp = chunk.indexOf(AMP, i)
        const stop = amp === -1 ? chunk.length : amp
        if (valueBytes + (stop - i) <= hold) value.push(Buffer.from(chunk.subarray(i, stop)))
        else value = []
        valueBytes += stop - i
        if (amp === -1) break
        await endValue(offset + amp, false)
        inName = true
        i = amp + 1
      }
    }
    offset += chunk.length
  }
  if (!inName) await endValue(offset, true)
  return { path, fields, large }
}

/** How many whitespace bytes end the file (the answer's text is trimmed, as parseAnswer trims it). */
async function trailingSpace(path: string, size: number, from: number): Promise<number> {
  const n = Math.min(64, size - from)
  if (n <= 0) return 0
  const tail = Buffer.alloc(n)
  const fd = await fs.promises.open(path, 'r')
  try {
    await fd.read(tail, 0, n, size - n)
  } finally {
    await fd.close()
  }
  let k = 0
  while (k < n && isSpace(tail[n - 1 - k]!)) k++
  return k
}

/** The bytes of a large field, streamed from the file. */
export function streamRange(path: string, range: ByteRange): AsyncIterable<Buffer> {
  if (range.end <= range.start) return (async function* () {})()
  return fs.createReadStream(path, { start: range.start, end: range.end - 1 }) as AsyncIterable<Buffer>
}

/**
 * The lower-case SHA-256 hex of the signing string (every non-empty field but `signature`, sorted by name, k=v&…),
 * large fields hashed from the file as they stream.
 */
export async function answerDigestHex(answer: AnswerOnDisk): Promise<string> {
  const names = new Set([...Object.keys(answer.fields).filter((k) => answer.fields[k] !== ''), ...Object.keys(answer.large)])
  names.delete('signature')
  const hash = createHash('sha256')
  let first = true
  for (const k of [...names].sort()) {
    hash.update(`${first ? '' : '&'}${k}=`, 'utf8')
    first = false
    const range = answer.large[k]
    if (range) for await (const chunk of streamRange(answer.path, range)) hash.update(chunk)
    else hash.update(answer.fields[k]!, 'utf8')
  }
  return hash.digest('hex')
}

/** Whether the answer's `signature` verifies with `key` (signMethod 01, version 5.1.0), hashing large fields from disk. */
export async function verifyAnswer(answer: AnswerOnDisk, key: KeyObject | string): Promise<boolean> {
  return answer.fields.signature ? verifyDigest(await answerDigestHex(answer), answer.fields.signature, key) : false
}

/** Base64 text in chunks of any size, decoded as it comes: each chunk's last incomplete quartet waits for the next. */
export async function* base64Decoded(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let rest = ''
  for await (const chunk of source) {
    const text = rest + chunk.toString('latin1')
    const whole = text.length - (text.length % 4)
    rest = text.slice(whole)
    if (whole > 0) yield Buffer.from(text.slice(0, whole), 'base64')
  }
  if (rest) yield Buffer.from(rest, 'base64')
}
