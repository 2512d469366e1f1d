// ESC/POS bytes for the layout blocks of text.ts: text in the printer's encoding (iconv-lite), alignment, emphasis,
// double size, QR codes (GS ( k), feeds and the cut, plus the drawer kick and a CODE128 barcode helper. Command
// bytes follow Epson's ESC/POS command reference; a Chinese printer gets FS & after ESC @ so 2-byte
// GBK/GB18030/Big5 codes print as characters, any other gets FS . so stray high bytes never do.
import iconv from 'iconv-lite'
import type { KitchenTicket, PrinterProfile, ReceiptModel, TextEncoding } from '../types.ts'
import { kitchenBlocks, printable, receiptBlocks, type Align, type Block } from './text.ts'

const ESC = 0x1b
const GS = 0x1d
const FS = 0x1c
const LF = 0x0a

/** ESC t n code tables (Epson numbering) for the single-byte encodings. */
const CODE_TABLE: Partial<Record<TextEncoding, number>> = { cp437: 0, cp858: 19 }
const ALIGN: Record<Align, number> = { left: 0, center: 1, right: 2 }

/** The bytes of `text` in `encoding`, after mapping what the printer cannot print (text.ts `printable`). */
export function encodeText(text: string, encoding: TextEncoding): Buffer {
  const p = printable(text, encoding)
  return encoding === 'utf8' ? Buffer.from(p, 'utf8') : iconv.encode(p, encoding)
}

/** GS ( k: model 2, module size, error correction M, store the data (pL pH = k + 3), print it. */
function qr(data: string, moduleSize: number): Buffer {
  const bytes = Buffer.from(data, 'utf8')
  if (bytes.length === 0 || bytes.length > 7089) throw new RangeError(`a QR code holds 1–7089 bytes, got ${bytes.length}`)
  if (!Number.isInteger(moduleSize) || moduleSize < 1 || moduleSize > 16) throw new RangeError(`QR module size ${moduleSize} is not 1–16`)
  const k = bytes.length + 3
  return Buffer.concat([
    Buffer.from([GS, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00]),
    Buffer.from([GS, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x43, moduleSize]),
    Buffer.from([GS, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x45, 0x31]),
    Buffer.from([GS, 0x28, 0x6b, k % 256, Math.floor(k / 256), 0x31, 0x50, 0x30]),
    bytes,
    Buffer.from([GS, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30]),
  ])
}

/**
 * Renders blocks to one print job. Style commands are sent only when the style changes (ESC @ resets to left,
 * not emphasized, normal size). The cut is GS V 66 0: feed to the cutter and cut partially — the receipt stays on
 * a tab instead of falling to the floor, and some 58 mm mechanisms only cut partially.
 */
export function renderEscpos(blocks: readonly Block[], profile: PrinterProfile): Buffer {
  const out: Buffer[] = [Buffer.from([ESC, 0x40]), Buffer.from(profile.cjkMode ? [FS, 0x26] : [FS, 0x2e])]
  const table = CODE_TABLE[profile.encoding]
  if (table !== undefined) out.push(Buffer.from([ESC, 0x74, table]))
  let align = 0
  let bold = false
  let size: 1 | 2 = 1
  const style = (a: number, b: boolean, s: 1 | 2) => {
    if (a !== align) out.push(Buffer.from([ESC, 0x61, (align = a)]))
    if (b !== bold) out.push(Buffer.from([ESC, 0x45, (bold = b) ? 1 : 0]))
    if (s !== size) out.push(Buffer.from([GS, 0x21, (size = s) === 2 ? 0x11 : 0x00]))
  }
  for (const b of blocks) {
    switch (b.type) {
      case 'text':
        style(ALIGN[b.align], b.bold, b.size)
        out.push(encodeText(b.text, profile.encoding), Buffer.from([LF]))
        break
      case 'rule':
        style(ALIGN.left, false, 1)
        out.push(Buffer.from('-'.repeat(profile.columns) + '\n', 'ascii'))
        break
      case 'qr':
        style(ALIGN.center, bold, size)
        out.push(qr(b.data, b.moduleSize))
        break
      case 'feed':
        if (!Number.isInteger(b.lines) || b.lines < 0 || b.lines > 255) throw new RangeError(`cannot feed ${b.lines} lines`)
        out.push(Buffer.from([ESC, 0x64, b.lines]))
        break
      case 'cut':
        out.push(Buffer.from([GS, 0x56, 0x42, 0x00]))
        break
    }
  }
  return Buffer.concat(out)
}

export const receiptEscpos = (model: ReceiptModel, profile: PrinterProfile, locale?: string) => renderEscpos(receiptBlocks(model, profile, locale), profile)

export const kitchenEscpos = (ticket: KitchenTicket, profile: PrinterProfile, locale?: string) => renderEscpos(kitchenBlocks(ticket, profile, locale), profile)

/** ESC = 1 (the printer, not a display, takes the bytes), then ESC p m 25 25: a 50 ms pulse, 50 ms off; m=0 pin 2, m=1 pin 5. */
export const drawerKickEscpos = (pin: 2 | 5): Buffer => Buffer.from([ESC, 0x3d, 0x01, ESC, 0x70, pin === 5 ? 0x01 : 0x00, 25, 25])

/**
 * A CODE128 barcode (GS k function B, m=73) in code set B, HRI text below, 80 dots high, module width 2. A "{"
 * in the data is sent as "{{" (the printer reads "{" as the start of a code-set or function code).
 */
export function code128Escpos(data: string): Buffer {
  if (!/^[\x20-\x7e]+$/.test(data)) throw new RangeError('CODE128 data must be printable ASCII')
  const body = Buffer.from('{B' + data.replaceAll('{', '{{'), 'ascii')
  if (body.length > 255) throw new RangeError(`CODE128 data too long (${data.length} characters)`)
  return Buffer.concat([Buffer.from([GS, 0x48, 0x02, GS, 0x68, 80, GS, 0x77, 0x02, GS, 0x6b, 73, body.length]), body])
}
