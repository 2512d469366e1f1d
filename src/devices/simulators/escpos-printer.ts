// A network ESC/POS printer on TCP for tests, the benchmark and the demo: it answers DLE EOT 1–4 at once with the
// bytes of its state (reference §3.2), keeps everything else as the job, and "prints" the job — decodes it — when the
// connection ends or goes quiet. Its paper, cover and online state, a link dropped mid-job and a refused port are
// knobs. DLE EOT is recognised only at command boundaries, so the same bytes inside raster or QR data stay data.
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { decodeEscpos, escposCommandLength, isStatusQuery, type DecodedEscpos } from '../escpos-decode.ts'
import type { TextEncoding } from '../types.ts'

export interface PrintedJob extends DecodedEscpos {
  /** When the job's last byte arrived. */
  at: Date
  /** The bytes printed, status queries left out. */
  bytes: Buffer
}

export interface EscposPrinterOptions {
  host?: string
  /** Default 0: an ephemeral port. */
  port?: number
  /** The printer's text encoding; default gbk. */
  encoding?: TextEncoding
  /** Delay before each status reply; default 0. */
  latencyMs?: number
  /** false: a clone that ignores DLE EOT. Default true. */
  answerStatus?: boolean
  /** A connection quiet this long ends the job it carries; default 100 ms. */
  idleMs?: number
}

export type PaperState = 'ok' | 'near_end' | 'end'

export interface SimPrinter {
  /** host:port, for the escpos_tcp driver. */
  address: string
  printed(): PrintedJob[]
  /** Every kick the printer executed, oldest first. */
  readonly drawerKicks: { pin: 2 | 5; at: Date }[]
  /** Called as each job is printed; returns the unsubscribe function. */
  onPrint(cb: (job: PrintedJob) => void): () => void
  waitForPrints(n: number, timeoutMs?: number): Promise<PrintedJob[]>
  /** Paper end, an open cover or offline: DLE EOT says so and bytes received are discarded, not printed. */
  setPaper(state: PaperState): void
  setCoverOpen(open: boolean): void
  setOffline(offline: boolean): void
  /** The drawer-sense level DLE EOT 1 reports; a kick sets it, closing the drawer is this. */
  setDrawerOpen(open: boolean): void
  /** The paper runs out once this many more bytes have printed; the rest of the job is discarded. */
  runOutOfPaper(opts: { afterBytes: number }): void
  /** The next job's connection is closed once this many of its bytes arrived (0: at its first byte). */
  dropNextJob(opts: { afterBytes: number }): void
  /** Stop (true) or resume (false) accepting connections: refused, as for a printer switched off. */
  refuse(refusing: boolean): Promise<void>
  close(): Promise<void>
}

export async function startEscposPrinter(opts: EscposPrinterOptions = {}): Promise<SimPrinter> {
  const encoding = opts.encoding ?? 'gbk'
  const latencyMs = opts.latencyMs ?? 0
  const answerStatus = opts.answerStatus ?? true
  const idleMs = opts.idleMs ?? 100
  const host = opts.host ?? '127.0.0.1'

  const jobs: PrintedJob[] = []
  const drawerKicks: { pin: 2 | 5; at: Date }[] = []
  const listeners = new Set<(job: PrintedJob) => void>()
  const sockets = new Set<net.Socket>()
  let paper: PaperState = 'ok'
  let coverOpen = false
  let offlineKnob = false
  let drawerOpen = false
  let paperLeft: number | null = null
  let dropAfter: number | null = null

  const offline = () => offlineKnob || coverOpen || paper === 'end'
  const statusByte = (n: number): number | null => {
    switch (n) {
      case 1:
        return 0x12 | (offline() ? 0x08 : 0) | (drawerOpen ? 0x04 : 0)
      case 2:
        return 0x12 | (coverOpen ? 0x04 : 0) | (paper === 'end' ? 0x20 : 0)
      case 3:
        return 0x12
      case 4:
        return 0x12 | (paper === 'end' ? 0x60 : paper === 'near_end' ? 0x0c : 0)
      default:
        return null
    }
  }

  const print = (bytes: Buffer, at: Date) => {
    const job: PrintedJob = { ...decodeEscpos(bytes, encoding), at, bytes }
    jobs.push(job)
    for (const k of job.drawerKicks) drawerKicks.push({ pin: k.pin, at })
    if (job.drawerKicks.length) drawerOpen = true
    for (const cb of listeners) cb(job)
  }

  const onConnection = (socket: net.Socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    let pending: Buffer = Buffer.alloc(0)
    let job: Buffer[] = []
    let jobBytes = 0
    let lastAt = new Date()
    let dropAt: number | null = null
    const finishJob = () => {
      if (!jobBytes) return
      const bytes = Buffer.concat(job)
      job = []
      jobBytes = 0
      print(bytes, lastAt)
    }
    const idle = setTimeout(finishJob, idleMs)

    /** Takes job bytes while the printer can print; the knobs cut a job short. */
    const accept = (data: Buffer) => {
      if (!data.length || offline()) return
      if (dropAfter !== null && dropAt === null && jobBytes === 0) {
        dropAt = dropAfter
        dropAfter = null
      }
      let take = data
      if (paperLeft !== null) take = take.subarray(0, paperLeft)
      if (dropAt !== null) take = take.subarray(0, dropAt - jobBytes)
      if (take.length) {
        job.push(take)
        jobBytes += take.length
        lastAt = new Date()
        idle.refresh()
      }
      if (paperLeft !== null) {
        paperLeft -= take.length
        if (paperLeft === 0) {
          paperLeft = null
          paper = 'end'
        }
      }
      if (dropAt !== null && jobBytes >= dropAt) socket.destroy()
    }

    const answer = (n: number) => {
      const b = answerStatus ? statusByte(n) : null
      if (b === null) return
      const reply = Buffer.from([b])
      if (latencyMs > 0) setTimeout(() => socket.writable && socket.write(reply), latencyMs)
      else socket.write(reply)
    }

    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      let i = 0
      let runStart = 0
      while (i < pending.length && !socket.destroyed) {
        const len = escposCommandLength(pending, i)
        if (len === 0) break
        if (isStatusQuery(pending, i)) {
          accept(pending.subarray(runStart, i))
          if (!socket.destroyed) answer(pending[i + 2]!)
          runStart = i + len
        }
        i += len
      }
      if (!socket.destroyed) accept(pending.subarray(runStart, i))
      pending = pending.subarray(i)
    })
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      sockets.delete(socket)
      clearTimeout(idle)
      accept(pending)
      finishJob()
    })
  }

  let server = net.createServer(onConnection)
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, host, resolve))
  const port = (server.address() as AddressInfo).port

  const onPrint = (cb: (job: PrintedJob) => void) => {
    listeners.add(cb)
    return () => void listeners.delete(cb)
  }

  return {
    address: `${host}:${port}`,
    printed: () => jobs.slice(),
    drawerKicks,
    onPrint,
    waitForPrints(n, timeoutMs = 5000) {
      if (jobs.length >= n) return Promise.resolve(jobs.slice())
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          off()
          reject(new Error(`expected ${n} printed jobs within ${timeoutMs} ms, got ${jobs.length}`))
        }, timeoutMs)
        const off = onPrint(() => {
          if (jobs.length < n) return
          clearTimeout(timer)
          off()
          resolve(jobs.slice())
        })
      })
    },
    setPaper: (state) => void (paper = state),
    setCoverOpen: (open) => void (coverOpen = open),
    setOffline: (value) => void (offlineKnob = value),
    setDrawerOpen: (open) => void (drawerOpen = open),
    runOutOfPaper: ({ afterBytes }) => void (paperLeft = afterBytes),
    dropNextJob: ({ afterBytes }) => void (dropAfter = afterBytes),
    async refuse(refusing) {
      if (refusing && server.listening) server.close()
      if (!refusing && !server.listening) {
        server = net.createServer(onConnection)
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve))
      }
    },
    async close() {
      for (const s of sockets) s.destroy()
      if (server.listening) await new Promise((resolve) => server.close(resolve))
    },
  }
}
