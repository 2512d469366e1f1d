// The bridge's durable memory of its jobs: an append-only JSON-lines file, one fsync per entry, so that after a crash
// the bridge knows which jobs it accepted, which it may have sent to a device (started without a result: never run
// again), which results the hub has not acknowledged yet, and which job ids it has seen (a repeat is answered from here,
// never run twice). Loaded and compacted at start: a torn last line (a crash mid-write) is dropped, acknowledged jobs
// shrink to one line without their payload and are forgotten once acknowledged longer ago than the retention (24 h).
import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { DeviceWorkSchema, WorkResultSchema } from '../protocol.ts'
import type { DeviceWork, WorkResult } from '../types.ts'

const DAY_MS = 24 * 60 * 60 * 1000

// One line each. `settled` is what compaction leaves of an acknowledged job: its id and outcome, for dedupe. `bridge`
// is the journal's own id, written once when the file is made and kept first by every compaction: the bridge tells the
// hub this id, and the hub sends a job it handed over again only to the bridge with this journal.
const EntrySchema = z.discriminatedUnion('e', [
  z.object({ e: z.literal('bridge'), at: z.string(), id: z.uuid() }),
  z.object({ e: z.literal('work'), at: z.string(), work: DeviceWorkSchema }),
  z.object({ e: z.literal('started'), at: z.string(), jobId: z.string() }),
  z.object({ e: z.literal('result'), at: z.string(), result: WorkResultSchema }),
  z.object({ e: z.literal('acked'), at: z.string(), jobId: z.string() }),
  z.object({ e: z.literal('settled'), at: z.string(), jobId: z.string(), result: WorkResultSchema }),
])
type Entry = z.infer<typeof EntrySchema>

/** What the journal knows of one job. `work` is null once compaction kept only the outcome of an acknowledged job. */
export interface JobRecord {
  jobId: string
  work: DeviceWork | null
  started: boolean
  result: WorkResult | null
  /** Position of the result among all results (the order they were produced); -1 without a result. */
  resultNo: number
  ackedAt: string | null
}

export interface Journal {
  readonly path: string
  /** The journal's id, which names this bridge to the hub for as long as the file lives. */
  readonly bridgeId: string
  has(jobId: string): boolean
  get(jobId: string): JobRecord | undefined
  /** Accept a job. The id counts as known at once (a repeat arriving during the fsync is not accepted twice). */
  record(work: DeviceWork): Promise<void>
  /** The job is about to reach its device: from here on it is never run again. */
  started(jobId: string): Promise<void>
  finished(result: WorkResult): Promise<void>
  acked(jobId: string): Promise<void>
  /** Durable results the hub has not acknowledged, in the order they were produced. */
  unacked(): WorkResult[]
  /** Jobs started without a result: the process stopped while the device was being driven. */
  inFlight(): DeviceWork[]
  /** Jobs accepted and not started, in seq order. */
  queued(): DeviceWork[]
  /** Resolves when every entry written so far is on disk. */
  flush(): Promise<void>
  close(): Promise<void>
}

export class JournalCorruptError extends Error {
  constructor(file: string, line: number, why: string) {
    super(`bridge journal ${file} is damaged at line ${line} (${why}); it is not the last line, so it is not a torn write — inspect or move the file`)
    this.name = 'JournalCorruptError'
  }
}

/**
 * A job the bridge may run again when the hub sends it again: it failed without touching the device (paper end,
 * cover open, unreachable: `retryable`), the hub stored that, and has since put it back in the queue because the
 * device recovered. Anything else sent again is answered from the journal.
 */
export const mayRunAgain = (rec: JobRecord) => rec.result?.outcome === 'failed' && rec.result.retryable && rec.ackedAt !== null

const entryJobId = (en: Entry) => (en.e === 'bridge' ? null : en.e === 'work' ? en.work.jobId : en.e === 'result' ? en.result.jobId : en.jobId)

function parseLines(file: string, text: string): Entry[] {
  const lines = text.split('\n')
  const entries: Entry[] = []
  lines.forEach((line, i) => {
    if (line.trim() === '') return
    const last = i === lines.length - 1 // no newline after it: the write was cut short
    let parsed: ReturnType<typeof EntrySchema.safeParse>
    try {
      parsed = EntrySchema.safeParse(JSON.parse(line))
    } catch {
      if (last) return
      throw new JournalCorruptError(file, i + 1, 'not JSON')
    }
    if (parsed.success) entries.push(parsed.data)
    else if (!last) throw new JournalCorruptError(file, i + 1, 'not a journal entry')
  })
  return entries
}

/** Replays entries into records; entries about a job whose `work` line is gone (compacted away) are ignored. */
function replay(entries: Entry[]): { records: Map<string, JobRecord>; resultCount: number } {
  const records = new Map<string, JobRecord>()
  let resultCount = 0
  for (const en of entries) {
    const jobId = entryJobId(en)
    if (jobId === null) continue
    if (en.e === 'work') {
      const prev = records.get(jobId)
      if (!prev || mayRunAgain(prev)) records.set(jobId, { jobId, work: en.work, started: false, result: null, resultNo: -1, ackedAt: null })
      continue
    }
    if (en.e === 'settled') {
      records.set(jobId, { jobId, work: null, started: true, result: en.result, resultNo: resultCount++, ackedAt: en.at })
      continue
    }
    const rec = records.get(jobId)
    if (!rec) continue
    if (en.e === 'started') rec.started = true
    else if (en.e === 'result' && !rec.result) Object.assign(rec, { result: en.result, resultNo: resultCount++ })
    else if (en.e === 'acked' && rec.result) rec.ackedAt ??= en.at
  }
  return { records, resultCount }
}

async function writeDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(text)
    await fh.datasync()
  } finally {
    await fh.close()
  }
  await rename(tmp, file)
  const dir = await open(path.dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

export async function openJournal(file: string, opts: { clock?: () => Date; retentionMs?: number } = {}): Promise<Journal> {
  const clock = opts.clock ?? (() => new Date())
  const retentionMs = opts.retentionMs ?? DAY_MS
  await mkdir(path.dirname(file), { recursive: true })
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return ''
    throw e
  })
  const entries = parseLines(file, text)
  const { records, resultCount } = replay(entries)

  // Compaction: forget jobs acknowledged longer ago than the retention, shrink the other acknowledged ones to one
  // `settled` line, keep the lines of unacknowledged jobs in their order (it is the order their results were produced).
  const identity = entries.find((en) => en.e === 'bridge') ?? { e: 'bridge' as const, at: clock().toISOString(), id: randomUUID() }
  const cutoff = clock().getTime() - retentionMs
  for (const [jobId, rec] of records) if (rec.ackedAt && Date.parse(rec.ackedAt) < cutoff) records.delete(jobId)
  const kept: Entry[] = [identity]
  for (const rec of [...records.values()].filter((r) => r.ackedAt).sort((a, b) => a.resultNo - b.resultNo)) {
    kept.push({ e: 'settled', at: rec.ackedAt!, jobId: rec.jobId, result: rec.result! })
    rec.work = null
  }
  for (const en of entries) {
    const jobId = entryJobId(en)
    const rec = jobId === null ? undefined : records.get(jobId)
    if (rec && !rec.ackedAt && rec.work) kept.push(en)
  }
  await writeDurably(file, kept.map((en) => `${JSON.stringify(en)}\n`).join(''))

  let nextResultNo = resultCount
  const fh: FileHandle = await open(file, 'a')
  let tail: Promise<void> = Promise.resolve()
  let closed = false

  const append = (en: Entry): Promise<void> => {
    if (closed) return Promise.reject(new Error(`bridge journal ${file} is closed`))
    const write = tail.then(async () => {
      await fh.write(`${JSON.stringify(en)}\n`)
      await fh.datasync()
    })
    tail = write.catch(() => {})
    return write
  }
  const at = () => clock().toISOString()
  const byResultNo = (a: JobRecord, b: JobRecord) => a.resultNo - b.resultNo
  const bySeq = (a: DeviceWork, b: DeviceWork) => a.seq - b.seq

  return {
    path: file,
    bridgeId: identity.id,
    has: (jobId) => records.has(jobId),
    get: (jobId) => records.get(jobId),
    async record(work) {
      const prev = records.get(work.jobId)
      if (prev && !mayRunAgain(prev)) throw new Error(`job ${work.jobId} is already in the journal`)
      const rec: JobRecord = { jobId: work.jobId, work, started: false, result: null, resultNo: -1, ackedAt: null }
      records.set(work.jobId, rec)
      try {
        await append({ e: 'work', at: at(), work })
      } catch (e) {
        // Not on disk: not accepted, the hub sends it again.
        if (prev) records.set(work.jobId, prev)
        else records.delete(work.jobId)
        throw e
      }
    },
    async started(jobId) {
      const rec = records.get(jobId)
      if (!rec?.work) throw new Error(`job ${jobId} is not in the journal`)
      await append({ e: 'started', at: at(), jobId })
      rec.started = true
    },
    async finished(result) {
      const rec = records.get(result.jobId)
      if (!rec?.work) throw new Error(`job ${result.jobId} is not in the journal`)
      if (rec.result || rec.resultNo >= 0) throw new Error(`job ${result.jobId} already has a result`)
      // The number is taken now, the result shows once it is on disk: appends are written in call order, so the
      // durable results always form the prefix of the production order.
      rec.resultNo = nextResultNo++
      await append({ e: 'result', at: at(), result })
      rec.result = result
    },
    async acked(jobId) {
      const rec = records.get(jobId)
      if (!rec?.result || rec.ackedAt) return
      const when = at()
      await append({ e: 'acked', at: when, jobId })
      rec.ackedAt = when
    },
    unacked: () => [...records.values()].filter((r) => r.result && !r.ackedAt).sort(byResultNo).map((r) => r.result!),
    inFlight: () => [...records.values()].filter((r) => r.work && r.started && r.resultNo < 0).map((r) => r.work!).sort(bySeq),
    queued: () => [...records.values()].filter((r) => r.work && !r.started && r.resultNo < 0).map((r) => r.work!).sort(bySeq),
    flush: () => tail,
    async close() {
      if (closed) return
      closed = true
      await tail
      await fh.close()
    },
  }
}
