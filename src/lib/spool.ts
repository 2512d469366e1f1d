// Files that wait on disk under the data dir until they are used: statement bills downloaded from a channel
// (`downloads/`) and uploads sent as a request body (`uploads/`). Each is written as it arrives, never held whole,
// and removed once used; the nightly purge removes what a stopped process left.
import fs from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Transform, type Readable } from 'node:stream'
import { newId } from './ids.ts'

export const SPOOL_KINDS = ['downloads', 'uploads'] as const
export type SpoolKind = (typeof SPOOL_KINDS)[number]

/** What every spooled file's name ends with, so that housekeeping never touches anything else. */
export const SPOOL_SUFFIX = '.part'

export const spoolDir = (dataDir: string, kind: SpoolKind): string => path.join(dataDir, kind)

export interface Spooled {
  path: string
  size: number
  /** The first `headBytes` bytes asked for (fewer if the file is shorter). */
  head: Buffer
  /** Removes the file; safe to call more than once. */
  discard(): Promise<void>
}

/**
 * Writes `source` to a new file of `dir` as it arrives, keeping its first `headBytes` in memory (enough to recognise
 * an error reply in place of a file). A source that fails midway leaves no file behind.
 */
export async function spool(source: Readable, dir: string, headBytes = 0): Promise<Spooled> {
  await fs.promises.mkdir(dir, { recursive: true })
  const file = path.join(dir, `${newId()}${SPOOL_SUFFIX}`)
  const discard = () => fs.promises.rm(file, { force: true })
  const head: Buffer[] = []
  let held = 0
  let size = 0
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length
      if (held < headBytes) {
        const part = Buffer.from(chunk.subarray(0, headBytes - held))
        head.push(part)
        held += part.length
      }
      done(null, chunk)
    },
  })
  try {
    await pipeline(source, tap, fs.createWriteStream(file, { flags: 'wx' }))
  } catch (e) {
    await discard()
    throw e
  }
  return { path: file, size, head: Buffer.concat(head), discard }
}
