// Reads ESC/POS bytes back into what a printer would put on paper: text lines in Unicode, cuts, drawer kicks, QR and
// barcode data. The simulated printer "prints" with it and the dashboard shows jobs through it. It knows the commands
// our renderer emits (reference §3) and the length of the other common ones, so an unknown command is skipped whole.
import iconv from 'iconv-lite'
import type { TextEncoding } from './types.ts'

export interface DecodedEscpos {
  lines: string[]
  cuts: number
  drawerKicks: { pin: 2 | 5 }[]
  qr: string[]
  barcodes: string[]
  /** The lines joined with newlines. */
  text: string
}

const LF = 0x0a
const DLE = 0x10
const ESC = 0x1b
const FS = 0x1c
const GS = 0x1d

// Commands of a fixed length: parameter bytes after the two-byte command.
const ESC_PARAMS = new Map([
  [0x40, 0], [0x32, 0], [0x69, 0], [0x6d, 0], // ESC @ init, ESC 2 default spacing, ESC i / ESC m legacy cuts
  [0x20, 1], [0x21, 1], [0x25, 1], [0x2d, 1], [0x33, 1], [0x3d, 1], [0x45, 1], [0x47, 1], [0x4a, 1], [0x4d, 1],
  [0x52, 1], [0x55, 1], [0x56, 1], [0x61, 1], [0x64, 1], [0x72, 1], [0x74, 1], [0x7b, 1],
  [0x24, 2], [0x42, 2], [0x5c, 2], [0x63, 2], // ESC $ / ESC \ positions, ESC B beep, ESC c 3|4|5 n panel
  [0x70, 3], // ESC p m t1 t2 drawer kick
])
const GS_PARAMS = new Map([
  [0x3a, 0],
  [0x21, 1], [0x2f, 1], [0x42, 1], [0x48, 1], [0x49, 1], [0x61, 1], [0x62, 1], [0x66, 1], [0x68, 1], [0x72, 1], [0x77, 1],
  [0x24, 2], [0x4c, 2], [0x50, 2], [0x57, 2], [0x5c, 2],
])
const FS_PARAMS = new Map([
  [0x26, 0], [0x2e, 0], // FS & enter, FS . leave Chinese (double-byte) mode
  [0x21, 1], [0x2d, 1], [0x43, 1], [0x57, 1],
  [0x3f, 2], [0x53, 2], [0x70, 2],
  [0x32, 74], // FS 2 c1 c2 + 72 bytes of a user-defined 24×24 character
])

const u16 = (buf: Buffer, i: number) => (buf[i] ?? 0) + (buf[i + 1] ?? 0) * 256

/**
 * How many bytes the command (or text byte) at `i` takes; 0 when it runs past the end of `buf` (more bytes are
 * needed). The simulated printer uses it to find DLE EOT queries only at command boundaries, never inside data.
 */
export function escposCommandLength(buf: Buffer, i: number): number {
  const need = (n: number) => (i + n <= buf.length ? n : 0)
  const b = buf[i]
  if (b === undefined) return 0
  if (b !== ESC && b !== GS && b !== FS && b !== DLE) return 1
  const c = buf[i + 1]
  if (c === undefined) return 0
  if (b === DLE) {
    if (c === 0x04) return buf[i + 2] === undefined ? 0 : need(buf[i + 2] === 7 || buf[i + 2] === 8 ? 4 : 3)
    if (c === 0x05) return need(3)
    if (c === 0x14) return need(buf[i + 2] === 8 ? 10 : buf[i + 2] === 7 ? 4 : 5)
    return 2
  }
  if (b === ESC) {
    if (c === 0x2a) {
      // ESC * m nL nH: column bit image, 1 byte per column (8-dot modes) or 3 (24-dot modes)
      if (i + 5 > buf.length) return 0
      return need(5 + u16(buf, i + 3) * ((buf[i + 2] ?? 0) >= 32 ? 3 : 1))
    }
    return need(2 + (ESC_PARAMS.get(c) ?? 0))
  }
  if (b === FS) return need(2 + (FS_PARAMS.get(c) ?? 0))
  switch (c) {
    case 0x56: {
      const m = buf[i + 2]
      if (m === undefined) return 0
      return need(m === 65 || m === 66 || m === 97 || m === 98 || m === 103 || m === 104 ? 4 : 3)
    }
    case 0x28: // GS ( x pL pH …: QR (k), graphics (L), and the rest of the family
      return i + 5 > buf.length ? 0 : need(5 + u16(buf, i + 3))
    case 0x6b: {
      const m = buf[i + 2]
      if (m === undefined) return 0
      if (m >= 65) return buf[i + 3] === undefined ? 0 : need(4 + buf[i + 3]!)
      const nul = buf.indexOf(0, i + 3)
      return nul < 0 ? 0 : nul - i + 1
    }
    case 0x76: // GS v 0 m xL xH yL yH: raster, x bytes wide, y dots high
      if (buf[i + 2] !== 0x30) return need(3)
      return i + 8 > buf.length ? 0 : need(8 + u16(buf, i + 4) * u16(buf, i + 6))
    case 0x2a: // GS * x y: define a downloaded bit image of x×y×8 bytes
      return i + 4 > buf.length ? 0 : need(4 + buf[i + 2]! * buf[i + 3]! * 8)
    default:
      return need(2 + (GS_PARAMS.get(c) ?? 1))
  }
}

/** Is the command at `i` a real-time status query (DLE EOT n)? Its reply is a byte, never paper. */
export const isStatusQuery = (buf: Buffer, i: number): boolean => buf[i] === DLE && buf[i + 1] === 0x04

// ESC t n code tables (Epson numbering) we can decode.
const CODE_TABLES = new Map([[0, 'cp437'], [2, 'cp850'], [16, 'cp1252'], [17, 'cp866'], [19, 'cp858']])
const DOUBLE_BYTE = new Set<TextEncoding>(['gbk', 'gb18030', 'big5'])

// CODE128 data starts with a code-set selector ({A, {B, {C); in set C each byte is a pair of digits.
function code128Text(data: Buffer): string {
  let out = ''
  let setC = false
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!
    if (b === 0x7b && i + 1 < data.length) {
      const sel = data[++i]!
      if (sel === 0x43) setC = true
      else if (sel === 0x41 || sel === 0x42) setC = false
      else if (sel === 0x7b) out += '{'
      continue
    }
    out += setC ? String(b).padStart(2, '0') : String.fromCharCode(b)
  }
  return out
}

/**
 * Decode a job. Text is decoded in the printer's encoding: double-byte (GBK, GB18030, Big5) only in FS & mode, as a
 * Chinese printer does; outside it, and for single-byte encodings, the ESC t code table. ESC @ clears the unprinted
 * line and the modes, as on the printer. Raster images are skipped; a truncated last command is ignored.
 */
export function decodeEscpos(bytes: Buffer, encoding: TextEncoding): DecodedEscpos {
  const out: DecodedEscpos = { lines: [], cuts: 0, drawerKicks: [], qr: [], barcodes: [], text: '' }
  let cjk = false
  let table: number | null = null
  let line = ''
  let run: number[] = []
  let qrStored = ''

  const codec = (): string => {
    if (encoding === 'utf8' || encoding === 'shift_jis') return encoding
    if (DOUBLE_BYTE.has(encoding) && cjk) return encoding
    const fallback = DOUBLE_BYTE.has(encoding) ? 'cp437' : encoding
    return table === null ? fallback : (CODE_TABLES.get(table) ?? fallback)
  }
  const flushRun = () => {
    if (run.length) line += iconv.decode(Buffer.from(run), codec())
    run = []
  }
  const endLine = () => {
    flushRun()
    out.lines.push(line)
    line = ''
  }
  const endPendingLine = () => {
    flushRun()
    if (line) endLine()
  }

  for (let i = 0; i < bytes.length; ) {
    const len = escposCommandLength(bytes, i)
    if (len === 0) break
    const b = bytes[i]!
    const c = bytes[i + 1]
    if (len === 1) {
      if (b === LF) endLine()
      else if (b >= 0x20 || b === 0x09) run.push(b)
    } else if (b === ESC) {
      const n = bytes[i + 2]!
      switch (c) {
        case 0x40: // ESC @ clears the buffer and the modes
          run = []
          line = ''
          cjk = false
          table = null
          break
        case 0x64: // ESC d n: print and feed n lines
          for (let k = 0; k < n; k++) endLine()
          break
        case 0x4a: // ESC J n: print and feed n dots
          endPendingLine()
          break
        case 0x74:
          flushRun()
          table = n
          break
        case 0x70:
          out.drawerKicks.push({ pin: n === 0 || n === 0x30 ? 2 : 5 })
          break
        case 0x69:
        case 0x6d:
          endPendingLine()
          out.cuts++
          break
      }
    } else if (b === FS && (c === 0x26 || c === 0x2e)) {
      flushRun()
      cjk = c === 0x26
    } else if (b === GS) {
      if (c === 0x56) {
        endPendingLine()
        out.cuts++
      } else if (c === 0x28 && bytes[i + 2] === 0x6b && bytes[i + 5] === 0x31) {
        const fn = bytes[i + 6]
        if (fn === 0x50) qrStored = bytes.subarray(i + 8, i + len).toString('utf8')
        else if (fn === 0x51) out.qr.push(qrStored)
      } else if (c === 0x6b) {
        const m = bytes[i + 2]!
        const data = m >= 65 ? bytes.subarray(i + 4, i + len) : bytes.subarray(i + 3, i + len - 1)
        out.barcodes.push(m === 73 ? code128Text(data) : data.toString('latin1'))
      }
    }
    i += len
  }
  endPendingLine()
  out.text = out.lines.join('\n')
  return out
}
