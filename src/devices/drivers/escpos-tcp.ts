// Raw ESC/POS over TCP (port 9100): one connection per job, DLE EOT status before and after the bytes. Before: a
// printer that reports offline, cover open or paper end gets nothing, so the job provably failed and may be retried.
// After: since TCP is ordered, a status reply to a query sent behind the job proves the job's bytes arrived; a link
// lost once the write began, or a problem that appeared since, leaves the outcome unknown — it is never resent.
import net from 'node:net'
import type { DeviceStatus } from '../types.ts'
import { driverResult, fromDleEot, unreachableStatus, type DriverResult } from './status.ts'

export interface EscposTcpOptions {
  /** Default 5 s (what Odoo and python-escpos use). */
  connectTimeoutMs?: number
  /** Handing the job's bytes to the socket; default 10 s. */
  writeTimeoutMs?: number
  /** Waiting for each DLE EOT reply; default 500 ms. A printer that ignores the first query is not asked the rest. */
  replyTimeoutMs?: number
}

const DEFAULT_PORT = 9100

/** host:port, [v6]:port, or a host alone (port 9100). */
function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(address)
  const port = Number(m?.[3] ?? DEFAULT_PORT)
  if (!m || port < 1 || port > 65535) throw new RangeError(`printer address ${JSON.stringify(address)} is not host:port`)
  return { host: (m[1] ?? m[2])!, port }
}

class LinkLost extends Error {}

/** An open connection to a printer: real-time status queries and a job write, both failing with LinkLost once closed. */
interface Link {
  query(n: 1 | 2 | 3 | 4, timeoutMs: number): Promise<number | null>
  write(bytes: Buffer, timeoutMs: number): Promise<void>
  close(): void
}

function connect(address: string, timeoutMs: number): Promise<Link | null> {
  const { host, port } = parseAddress(address)
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, noDelay: true })
    const fail = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(null)
    }
    const timer = setTimeout(fail, timeoutMs)
    socket.once('error', fail)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.off('error', fail)
      resolve(openLink(socket))
    })
  })
}

function openLink(socket: net.Socket): Link {
  let inbox: number[] = []
  let lost: string | null = null
  let wake: (() => void) | null = null
  socket.on('data', (chunk: Buffer) => {
    for (const b of chunk) inbox.push(b)
    wake?.()
  })
  const gone = (why: string) => () => {
    lost ??= why
    wake?.()
  }
  socket.on('error', (err) => gone(err.message)())
  socket.on('end', gone('the printer closed the connection'))
  socket.on('close', gone('connection closed'))

  /** Resolves when `ready()` holds, the link is lost, or after `timeoutMs`. */
  const until = (ready: () => boolean, timeoutMs: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        wake = null
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      wake = () => {
        if (ready() || lost !== null) done()
      }
      wake()
    })

  return {
    async query(n, timeoutMs) {
      if (lost) throw new LinkLost(lost)
      inbox = [] // a late reply to an earlier query must not pass for this one
      socket.write(Buffer.from([0x10, 0x04, n]))
      await until(() => inbox.length > 0, timeoutMs)
      if (inbox.length) return inbox.shift()!
      if (lost) throw new LinkLost(lost)
      return null
    },
    async write(bytes, timeoutMs) {
      if (lost) throw new LinkLost(lost)
      let flushed = false
      let error: string | null = null
      socket.write(bytes, (err) => {
        flushed = !err
        error = err ? err.message : null
        wake?.()
      })
      await until(() => flushed || error !== null, timeoutMs)
      if (flushed) return
      socket.destroy()
      throw new LinkLost(error ?? lost ?? `writing timed out after ${timeoutMs} ms`)
    },
    close() {
      socket.setTimeout(2000, () => socket.destroy())
      socket.end()
    },
  }
}

async function queryStatus(link: Link, timeoutMs: number): Promise<DeviceStatus> {
  const printer = await link.query(1, timeoutMs)
  if (printer === null) return fromDleEot({ printer, offline: null, error: null, paper: null })
  const offline = await link.query(2, timeoutMs)
  const error = await link.query(3, timeoutMs)
  const paper = await link.query(4, timeoutMs)
  return fromDleEot({ printer, offline, error, paper })
}

const settings = (opts: EscposTcpOptions) => ({
  connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
  writeTimeoutMs: opts.writeTimeoutMs ?? 10_000,
  replyTimeoutMs: opts.replyTimeoutMs ?? 500,
})

/** The printer's status; an unreachable printer is offline with problem 'unreachable'. */
export async function readStatus(address: string, opts: EscposTcpOptions = {}): Promise<DeviceStatus> {
  const { connectTimeoutMs, replyTimeoutMs } = settings(opts)
  const link = await connect(address, connectTimeoutMs)
  if (!link) return unreachableStatus()
  try {
    return await queryStatus(link, replyTimeoutMs)
  } catch {
    return unreachableStatus()
  } finally {
    link.close()
  }
}

/**
 * Connect, check status, send `bytes`, check again. What was not provably refused before sending stays `unknown` if
 * anything goes wrong afterwards. A printer that never answers DLE EOT (a clone) prints blind: done once the bytes
 * are handed over, with an unknown status.
 */
export async function printEscpos(address: string, bytes: Buffer, opts: EscposTcpOptions = {}): Promise<DriverResult> {
  const { connectTimeoutMs, writeTimeoutMs, replyTimeoutMs } = settings(opts)
  const link = await connect(address, connectTimeoutMs)
  if (!link) {
    return driverResult('failed', 'unreachable', { retryable: true, status: unreachableStatus(), message: `cannot connect to ${address}; nothing sent` })
  }
  try {
    let before: DeviceStatus
    try {
      before = await queryStatus(link, replyTimeoutMs)
    } catch (err) {
      return driverResult('failed', 'link_lost', { retryable: true, message: `${(err as Error).message} before sending; nothing sent` })
    }
    if (before.problem) {
      return driverResult('failed', before.problem, {
        retryable: before.problem !== 'unrecoverable_error',
        status: before,
        message: `printer reports ${before.problem}; nothing sent`,
      })
    }
    try {
      await link.write(bytes, writeTimeoutMs)
    } catch (err) {
      return driverResult('unknown', 'link_lost', { status: before, message: `${(err as Error).message} while sending ${bytes.length} bytes` })
    }
    if (before.online === null) return driverResult('done', null, { status: before })
    let after: DeviceStatus
    try {
      after = await queryStatus(link, replyTimeoutMs)
    } catch (err) {
      return driverResult('unknown', 'link_lost', { status: before, message: `${(err as Error).message} after sending` })
    }
    if (after.online === null) return driverResult('unknown', 'no_status', { status: after, message: 'the printer stopped answering status after the job was sent' })
    if (after.problem) return driverResult('unknown', after.problem, { status: after, message: `printer reports ${after.problem} after the job was sent; it may be partly printed` })
    return driverResult('done', null, { status: after })
  } finally {
    link.close()
  }
}

/**
 * Kick the drawer on `pin` through the printer: ESC = 1 (select the printer), then ESC p with 50 ms on and off, checked
 * like a print. Sent only when the printer reports no problem (or never answers status); never repeated once sent.
 */
export function kickDrawer(address: string, pin: 2 | 5, opts: EscposTcpOptions = {}): Promise<DriverResult> {
  return printEscpos(address, Buffer.from([0x1b, 0x3d, 0x01, 0x1b, 0x70, pin === 5 ? 1 : 0, 0x19, 0x19]), opts)
}
