// The customer display: a 2×20 VFD pole display in its Epson ESC/POS-compatible mode (reference §5.1), reached
// through a serial-to-Ethernet adapter (display_tcp) or a serial device path (display_serial). Builds the two lines
// the customer sees (item, total, change, idle) and the bytes of one update: CLR, cursor home, line 1, US $ 1 2,
// line 2. A display never answers, so "done" means every byte was handed to the link.
//
// Width is counted in display cells: in a code page every byte is one cell, so a GBK/Big5/Shift_JIS character takes
// two and a character the code page lacks becomes one `?` (most VFDs have no CJK font). UTF-8 is counted the same
// way, byte by byte; pole displays in Epson mode take a code page, not UTF-8.
import fs from 'node:fs/promises'
import net from 'node:net'
import iconv from 'iconv-lite'
import { formatDecimal } from '../../lib/money.ts'
import { printable } from '../render/text.ts'
import type { TextEncoding, WorkResult } from '../types.ts'

export const DISPLAY_COLUMNS = 20

/** ESC @: resets the display (clear, cursor home, default modes); sent only when asked, not with every update. */
export const DISPLAY_INIT = Buffer.from([0x1b, 0x40])
const CLEAR = Buffer.from([0x0c])
const HOME = Buffer.from([0x0b])
/** US $ x y: cursor to column 1 of line 2. */
const LINE_2 = Buffer.from([0x1f, 0x24, 0x01, 0x02])

export type DisplayLines = [string, string]
export type DisplayOutcome = Pick<WorkResult, 'outcome' | 'reason' | 'message' | 'retryable'>

// ---- the screens ------------------------------------------------------------------------------------------------

/** East Asian wide and fullwidth characters take two cells on the displays that can show them. */
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{20000}-\u{3fffd}]/u

const cellsOf = (ch: string) => (WIDE.test(ch) ? 2 : 1)
const columns = (text: string) => [...text].reduce((n, ch) => n + cellsOf(ch), 0)

/** The longest start of `text` that fits `width` cells (a wide character is never cut in half). */
function cut(text: string, width: number): string {
  let out = ''
  let used = 0
  for (const ch of text) {
    if (used + cellsOf(ch) > width) break
    out += ch
    used += cellsOf(ch)
  }
  return out
}

const left = (text: string) => {
  const fitted = cut(text, DISPLAY_COLUMNS)
  return fitted + ' '.repeat(DISPLAY_COLUMNS - columns(fitted))
}

/** `label` on the left, `amount` flush right; the label gives way so the amount is always whole. */
function spread(label: string, amount: string): string {
  const room = Math.max(0, DISPLAY_COLUMNS - columns(amount) - 1)
  const fitted = cut(label, room)
  return fitted + ' '.repeat(DISPLAY_COLUMNS - columns(fitted) - columns(amount)) + amount
}

const centre = (text: string) => {
  const fitted = cut(text, DISPLAY_COLUMNS)
  const pad = DISPLAY_COLUMNS - columns(fitted)
  const before = Math.floor(pad / 2)
  return ' '.repeat(before) + fitted + ' '.repeat(pad - before)
}

/** The item just scanned: its name, then the quantity text on the left and the line price on the right. */
export const itemScreen = (name: string, qtyText: string, priceMinor: number, currency: string): DisplayLines => [
  left(name),
  spread(qtyText, formatDecimal(priceMinor, currency)),
]

export const totalScreen = (totalMinor: number, currency: string): DisplayLines => [
  spread('TOTAL', currency.toUpperCase()),
  spread('', formatDecimal(totalMinor, currency)),
]

export const changeScreen = (paidMinor: number, changeMinor: number, currency: string): DisplayLines => [
  spread('PAID', formatDecimal(paidMinor, currency)),
  spread('CHANGE', formatDecimal(changeMinor, currency)),
]

/** A welcome text, centred; longer than a line it breaks at the last space that fits. */
export function idleScreen(text: string): DisplayLines {
  const words = text.trim()
  if (columns(words) <= DISPLAY_COLUMNS) return [centre(words), centre('')]
  const first = cut(words, DISPLAY_COLUMNS)
  const space = first.lastIndexOf(' ')
  const head = space > 0 ? first.slice(0, space) : first
  return [centre(head), centre(words.slice(head.length).trim())]
}

// ---- the bytes --------------------------------------------------------------------------------------------------

/** One line in the display's code page, cut or padded with spaces to exactly 20 cells. */
function lineBytes(text: string, encoding: TextEncoding): Buffer {
  const parts: Buffer[] = []
  let used = 0
  // Text never carries a command: control characters shown as spaces, as on a receipt.
  for (const ch of printable(text, encoding)) {
    const bytes = iconv.encode(ch, encoding)
    if (used + bytes.length > DISPLAY_COLUMNS) break
    parts.push(bytes)
    used += bytes.length
  }
  parts.push(Buffer.alloc(DISPLAY_COLUMNS - used, 0x20))
  return Buffer.concat(parts)
}

/** One update: CLR, cursor home, line 1, cursor to line 2 (US $ 1 2), line 2. */
export const displayBytes = (lines: DisplayLines, encoding: TextEncoding): Buffer =>
  Buffer.concat([CLEAR, HOME, lineBytes(lines[0], encoding), LINE_2, lineBytes(lines[1], encoding)])

export interface DisplayOptions {
  encoding?: TextEncoding
  /** Send ESC @ first (after power-up or when the display may be in an unknown mode). */
  init?: boolean
  timeoutMs?: number
}

const updateBytes = (lines: DisplayLines, opts: DisplayOptions) => {
  const bytes = displayBytes(lines, opts.encoding ?? 'cp437')
  return opts.init ? Buffer.concat([DISPLAY_INIT, bytes]) : bytes
}

const done: DisplayOutcome = { outcome: 'done', reason: null, message: null, retryable: false }
const unreachable = (message: string): DisplayOutcome => ({ outcome: 'failed', reason: 'unreachable', message, retryable: true })
/** Bytes may have reached the display. Showing the same two lines again is harmless, so unlike a print it may be repeated. */
const linkLost = (message: string): DisplayOutcome => ({ outcome: 'unknown', reason: 'link_lost', message, retryable: true })

/** Shows two lines on a display behind a serial-to-Ethernet adapter (`host:port`), one connection per update. */
export function showOnDisplay(address: string, lines: DisplayLines, opts: DisplayOptions = {}): Promise<DisplayOutcome> {
  const { hostname, port } = new URL(`tcp://${address}`)
  const bytes = updateBytes(lines, opts)
  return new Promise((resolve) => {
    let connected = false
    let settled = false
    const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) })
    const finish = (result: DisplayOutcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(
      () => finish(connected ? linkLost(`the display at ${address} did not take the update in time`) : unreachable(`no connection to the display at ${address} in time`)),
      opts.timeoutMs ?? 3000,
    )
    socket.once('connect', () => {
      connected = true
      socket.end(bytes)
    })
    socket.once('error', (e) => finish(connected ? linkLost(e.message) : unreachable(e.message)))
    socket.once('close', () => finish(done))
  })
}

/** Shows two lines on a display at a serial device path (USB-CDC or RS-232; the port settings belong to the OS). */
export async function showOnSerialDisplay(path: string, lines: DisplayLines, opts: Omit<DisplayOptions, 'timeoutMs'> = {}): Promise<DisplayOutcome> {
  let file: fs.FileHandle
  try {
    file = await fs.open(path, 'a')
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (err.code === 'EACCES' || err.code === 'EPERM') return { outcome: 'failed', reason: 'no_permission', message: err.message, retryable: false }
    return unreachable(err.message)
  }
  try {
    await file.writeFile(updateBytes(lines, opts))
    return done
  } catch (e) {
    return linkLost((e as Error).message)
  } finally {
    await file.close()
  }
}
