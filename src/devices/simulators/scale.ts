// A scale streaming a continuous-output format on TCP, as behind a serial-to-Ethernet adapter, for tests and the
// demo: every `intervalMs` each connected client gets a frame (CAS 22 bytes or the generic indicator line, in kg)
// for what lies on the plate. Goods just placed swing (unstable frames) until `settle()`; `wobble()` swings them
// again, `overload()` sends OL until something else is placed. With `split`, each frame goes out in two writes half
// an interval apart, as adapters that forward bytes as they arrive do.
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { ScaleFormat } from '../drivers/scale.ts'

export interface ScaleSimulatorOptions {
  format: ScaleFormat
  intervalMs?: number
  split?: boolean
}

export interface ScaleSimulator {
  /** host:port to give to readStableWeight. */
  address: string
  /** Puts goods of this many grams on the plate (negative: less than the zero point); unstable until settle(). */
  place(grams: number): void
  settle(): void
  wobble(): void
  overload(): void
  /** Frames sent so far, to every client together. */
  framesSent(): number
  close(): Promise<void>
}

/** Whole grams as kilograms with three decimals, the sign kept apart: [sign, "1.234"]. */
function kilograms(grams: number): ['+' | '-', string] {
  const abs = Math.abs(grams)
  return [grams < 0 ? '-' : '+', `${Math.floor(abs / 1000)}.${String(abs % 1000).padStart(3, '0')}`]
}

/** `ST,GS,` id lamp `,` 8-byte weight, blank, `kg`, CR LF: 22 bytes. Lamp: bit 7 always, bit 6 stable, bit 2 gross. */
export function casFrame(state: 'ST' | 'US' | 'OL', grams: number): Buffer {
  const [sign, kg] = kilograms(grams)
  const weight = sign === '-' ? `-${kg.padStart(7, '0')}` : kg.padStart(8, '0')
  const lamp = 0x80 | (state === 'ST' ? 0x40 : 0) | 0x04
  return Buffer.concat([Buffer.from(`${state},GS,1`, 'latin1'), Buffer.from([lamp]), Buffer.from(`,${weight} kg\r\n`, 'latin1')])
}

export function genericFrame(state: 'ST' | 'US' | 'OL', grams: number): Buffer {
  const [sign, kg] = kilograms(grams)
  return Buffer.from(`${state},GS,${sign}${kg.padStart(8, '0')}kg\r\n`, 'latin1')
}

export async function startScale(opts: ScaleSimulatorOptions): Promise<ScaleSimulator> {
  const intervalMs = opts.intervalMs ?? 50
  const build = opts.format === 'cas22' ? casFrame : genericFrame
  let grams = 0
  let state: 'ST' | 'US' | 'OL' = 'ST'
  let sent = 0
  const clients = new Set<net.Socket>()
  const timers = new Set<NodeJS.Timeout>()

  const tick = setInterval(() => {
    const frame = build(state, grams)
    sent++
    for (const socket of clients) {
      if (!opts.split) {
        socket.write(frame)
        continue
      }
      socket.write(frame.subarray(0, 9))
      const rest = setTimeout(() => {
        timers.delete(rest)
        if (!socket.destroyed) socket.write(frame.subarray(9))
      }, intervalMs / 2)
      timers.add(rest)
    }
  }, intervalMs)

  const server = net.createServer((socket) => {
    clients.add(socket)
    socket.on('error', () => socket.destroy())
    socket.on('close', () => clients.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    address: `127.0.0.1:${port}`,
    place(g) {
      grams = g
      state = 'US'
    },
    settle() {
      if (state === 'US') state = 'ST'
    },
    wobble() {
      if (state === 'ST') state = 'US'
    },
    overload() {
      state = 'OL'
    },
    framesSent: () => sent,
    close: () =>
      new Promise((resolve) => {
        clearInterval(tick)
        for (const t of timers) clearTimeout(t)
        for (const socket of clients) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
