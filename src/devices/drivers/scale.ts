// Reading a scale that streams a continuous-output format (reference §5.2), over a serial-to-Ethernet adapter
// (scale_tcp) or a serial device path (scale_serial). Two frame formats:
// - CAS 22 bytes (CI-series, NT-200): `ST|US|OL` `,` `GS|NT` `,` device-id lamp `,` 8-byte weight, blank, `kg`, CR LF.
//   The lamp byte has bit 7 set, so it is never mistaken for LF.
// - the generic indicator line (Selleton, Tiger, Vector): `ST,GS,+0001.234kg` CR LF, units kg / g / lb / oz.
// Only a stable, non-negative reading that is not an overload prices goods: a reading waits out unstable frames and
// fails at once on an overload or a stable negative weight (the scale needs the goods off or re-zeroing, not time).
// Weights become whole grams, pounds and ounces through their exact gram values, rounded half up.
import fs from 'node:fs'
import net from 'node:net'
import tty from 'node:tty'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { mulDivRound } from '../../lib/money.ts'

export type ScaleFormat = 'cas22' | 'generic'
export type WeightUnit = 'kg' | 'g' | 'lb' | 'oz'

export interface ScaleFrame {
  stable: boolean
  overload: boolean
  /** NT (net, after tare) rather than GS (gross). */
  net: boolean
  /** Whole grams, negative under zero; null when an overload frame carries no number. */
  grams: number | null
  unit: WeightUnit
  /** The frame as received, without CR LF (latin1, so the CAS lamp byte survives). */
  raw: string
}

export type WeighFailure = 'unstable' | 'overload' | 'negative' | 'unreachable'
export type WeighResult = { ok: true; grams: number; net: boolean; frame: ScaleFrame } | { ok: false; reason: WeighFailure; message: string }

/** Grams per unit as an exact fraction: the pound is 453.59237 g by definition, the ounce a sixteenth of it. */
const GRAMS_PER: Record<WeightUnit, [number, number]> = { kg: [1000, 1], g: [1, 1], lb: [45_359_237, 100_000], oz: [45_359_237, 1_600_000] }

/** Decimal weight text ("-0001.234") in `unit` as whole grams, exactly; null when it is not a number. */
function toGrams(text: string, unit: WeightUnit): number | null {
  const m = /^([+-])?\s*(\d*)(?:\.(\d*))?$/.exec(text.trim())
  if (!m || (m[2] ?? '') + (m[3] ?? '') === '') return null
  const decimals = m[3] ?? ''
  const scaled = Number(`${m[2] || '0'}${decimals}`)
  const [num, den] = GRAMS_PER[unit]
  const grams = mulDivRound(scaled, num, den * 10 ** decimals.length)
  return m[1] === '-' ? 0 - grams : grams
}

const UNIT = /^(kg|g|lb|oz)$/i
const asText = (frame: Buffer | string) => (typeof frame === 'string' ? frame : frame.toString('latin1')).replace(/\r?\n$|\r$/, '')

function frameOf(raw: string, state: string, kind: string, weight: string, unitText: string): ScaleFrame | null {
  const unit = unitText.trim().toLowerCase()
  if (!UNIT.test(unit) || !/^(ST|US|OL)$/.test(state) || !/^(GS|NT)$/.test(kind)) return null
  const grams = toGrams(weight, unit as WeightUnit)
  if (grams === null && state !== 'OL') return null
  return { stable: state === 'ST', overload: state === 'OL', net: kind === 'NT', grams, unit: unit as WeightUnit, raw }
}

/** A CAS 22-byte frame (with or without its CR LF); null when it is not one. */
export function parseCasFrame(frame: Buffer | string): ScaleFrame | null {
  const raw = asText(frame)
  if (raw.length !== 20 || raw[2] !== ',' || raw[5] !== ',' || raw[8] !== ',') return null
  return frameOf(raw, raw.slice(0, 2), raw.slice(3, 5), raw.slice(9, 17), raw.slice(17, 20))
}

/** A generic indicator line (`ST,GS,+0001.234kg`, spaces allowed around sign and unit); null when it is not one. */
export function parseGenericFrame(frame: Buffer | string): ScaleFrame | null {
  const raw = asText(frame)
  const m = /^(ST|US|OL),(GS|NT),(.*?)\s*([a-z]+)\s*$/i.exec(raw)
  if (!m) return null
  return frameOf(raw, m[1]!.toUpperCase(), m[2]!.toUpperCase(), m[3]!, m[4]!)
}

const PARSERS: Record<ScaleFormat, (frame: Buffer) => ScaleFrame | null> = { cas22: parseCasFrame, generic: parseGenericFrame }

export interface WeighOptions {
  format: ScaleFormat
  /** How long to wait for a stable reading, connecting included. */
  timeoutMs?: number
}

/** A line of garbage longer than this (a wrong baud rate, a wrong port) is dropped rather than buffered. */
const MAX_FRAME = 128

/** Reads frames from `stream` until one decides the weighing; destroys the stream when done. */
function weigh(stream: Readable, opts: WeighOptions, what: string): Promise<WeighResult> {
  const parse = PARSERS[opts.format]
  return new Promise((resolve) => {
    let pending = Buffer.alloc(0)
    let frames = 0
    let settled = false
    const finish = (result: WeighResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      stream.destroy()
      resolve(result)
    }
    const fail = (reason: WeighFailure, message: string) => finish({ ok: false, reason, message })
    const timer = setTimeout(
      () => (frames ? fail('unstable', `no stable reading from ${what} in ${opts.timeoutMs ?? 3000} ms`) : fail('unreachable', `nothing readable from ${what}`)),
      opts.timeoutMs ?? 3000,
    )
    stream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      for (let end = pending.indexOf(0x0a); end >= 0 && !settled; end = pending.indexOf(0x0a)) {
        const frame = parse(pending.subarray(0, end + 1))
        pending = pending.subarray(end + 1)
        if (!frame) continue
        frames++
        if (frame.overload) fail('overload', `${what} is overloaded`)
        else if (frame.stable && frame.grams! < 0) fail('negative', `${what} reads ${frame.grams} g: re-zero it`)
        else if (frame.stable) finish({ ok: true, grams: frame.grams!, net: frame.net, frame })
      }
      if (pending.length > MAX_FRAME) pending = Buffer.alloc(0)
    })
    stream.on('error', (e) => fail('unreachable', `${what}: ${e.message}`))
    stream.on('end', () => fail('unreachable', `${what} stopped sending`))
  })
}

/** The first stable reading of a scale behind a serial-to-Ethernet adapter (`host:port`). */
export function readStableWeight(address: string, opts: WeighOptions): Promise<WeighResult> {
  const { hostname, port } = new URL(`tcp://${address}`)
  const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) })
  return weigh(socket, opts, `the scale at ${address}`)
}

/**
 * The first stable reading of a scale at a serial device path. A terminal device is read in raw mode; its baud rate
 * and parity (CAS 9600 8N1, Toledo 7E1) are set by the OS (stty, udev), which node:fs cannot do.
 */
export async function readStableWeightFromPath(path: string, opts: WeighOptions): Promise<WeighResult> {
  let fd: number
  try {
    fd = await promisify(fs.open)(path, 'r')
  } catch (e) {
    return { ok: false, reason: 'unreachable', message: (e as Error).message }
  }
  if (!tty.isatty(fd)) return weigh(fs.createReadStream('', { fd }), opts, `the scale at ${path}`)
  const stream = new tty.ReadStream(fd)
  stream.setRawMode(true)
  return weigh(stream, opts, `the scale at ${path}`)
}
