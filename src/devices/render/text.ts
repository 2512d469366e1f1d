// The layout both printer renderers draw: receipts and kitchen tickets become an ordered list of blocks (a line of
// text with its alignment and style, a rule, a QR code, a feed, a cut) laid out to the printer's columns, so ESC/POS
// and ePOS print the same thing. Widths are counted the way a printer counts them: on a double-byte printer (GBK,
// GB18030, Big5, Shift-JIS) every 2-byte code prints two columns wide — "×" and "·" included — and without an
// encoding a CJK / full-width glyph (East Asian Wide or Fullwidth) takes two. Labels live in one table per language.
import iconv from 'iconv-lite'
import { formatDecimal } from '../../lib/money.ts'
import type { KitchenTicket, PrinterProfile, ReceiptModel, TextEncoding } from '../types.ts'

export type Align = 'left' | 'center' | 'right'

/** One thing to print. A text block is one printed line, already fitted to `columns / size`. */
export type Block =
  | { type: 'text'; text: string; align: Align; bold: boolean; size: 1 | 2 }
  | { type: 'rule' }
  | { type: 'qr'; data: string; moduleSize: number }
  | { type: 'feed'; lines: number }
  | { type: 'cut' }

// ---------------------------------------------------------------------------------------------------------------
// Characters and widths

/** East Asian Wide and Fullwidth code point ranges (Unicode UAX #11), the ones a receipt can meet. */
const WIDE: readonly [number, number][] = [
  [0x1100, 0x115f], // Hangul Jamo initials
  [0x2e80, 0x303e], // CJK radicals, Kangxi, ideographic description, CJK symbols and punctuation
  [0x3041, 0x33ff], // Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo, Kanbun, CJK strokes, enclosed, compatibility
  [0x3400, 0x4dbf], // CJK Extension A
  [0x4e00, 0x9fff], // CJK Unified Ideographs
  [0xa000, 0xa4cf], // Yi
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe10, 0xfe19], // vertical forms
  [0xfe30, 0xfe6f], // CJK compatibility forms, small form variants
  [0xff00, 0xff60], // fullwidth forms
  [0xffe0, 0xffe6], // fullwidth signs (￥ ￡ ￠)
  [0x1f300, 0x1f64f], // pictographs and emoticons
  [0x1f900, 0x1f9ff], // supplemental pictographs
  [0x20000, 0x3fffd], // CJK Extensions B and beyond
]

const isWide = (cp: number) => WIDE.some(([lo, hi]) => cp >= lo && cp <= hi)

const FULL_WIDTH_YEN = '\uffe5'
const cache = new Map<TextEncoding, Map<string, { text: string; width: number }>>()

/**
 * What a printer can print of one character, and how many columns it takes. Control characters become a space (text
 * must never carry a command). On GBK/GB18030/Big5 printers the half-width ¥ becomes the full-width ￥; a character
 * the printer's font cannot hold — not in the code page, a 4-byte GB18030 code, a lone high byte like GBK's € (0x80)
 * that a Chinese-mode printer would read as half a character — becomes "?". A 2-byte code is two columns wide.
 */
function printableChar(ch: string, encoding: TextEncoding): { text: string; width: number } {
  const cp = ch.codePointAt(0)!
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0)) return { text: ' ', width: 1 }
  if (cp < 0x7f) return { text: ch, width: 1 }
  if (encoding === 'utf8') return { text: ch, width: isWide(cp) ? 2 : 1 }
  let known = cache.get(encoding)
  if (!known) cache.set(encoding, (known = new Map()))
  const hit = known.get(ch)
  if (hit) return hit
  const c = cp === 0xa5 && (encoding === 'gbk' || encoding === 'gb18030' || encoding === 'big5') ? FULL_WIDTH_YEN : ch
  const bytes = iconv.encode(c, encoding)
  const unmapped = bytes.every((b) => b === 0x3f)
  const strayHighByte = bytes.length === 1 && bytes[0]! >= 0x80 && (encoding === 'gbk' || encoding === 'gb18030' || encoding === 'big5')
  const out = unmapped || bytes.length > 2 || strayHighByte ? { text: '?', width: 1 } : { text: c, width: bytes.length }
  known.set(ch, out)
  return out
}

/** The text as a printer with this encoding will print it (see printableChar); idempotent. */
export function printable(s: string, encoding: TextEncoding): string {
  let out = ''
  for (const ch of s) out += printableChar(ch, encoding).text
  return out
}

/**
 * Columns `s` takes. With a single- or double-byte encoding, its byte count once made printable (a 2-byte code
 * prints two columns wide); without one (or UTF-8), East Asian Wide/Fullwidth characters take two.
 */
export function displayWidth(s: string, encoding: TextEncoding = 'utf8'): number {
  let w = 0
  for (const ch of s) w += printableChar(ch, encoding).width
  return w
}

export const padEnd = (s: string, width: number, encoding?: TextEncoding) => s + ' '.repeat(Math.max(0, width - displayWidth(s, encoding)))
export const padStart = (s: string, width: number, encoding?: TextEncoding) => ' '.repeat(Math.max(0, width - displayWidth(s, encoding))) + s

interface Token {
  text: string
  width: number
  space: boolean
  wide: boolean
}

/** Runs of spaces, words of narrow characters, and single wide characters: a line may break between any two. */
function tokens(s: string, encoding?: TextEncoding): Token[] {
  const out: Token[] = []
  for (const ch of s) {
    const width = displayWidth(ch, encoding)
    const space = ch === ' '
    const wide = width > 1
    const last = out[out.length - 1]
    if (last && !wide && !last.wide && last.space === space) {
      last.text += ch
      last.width += width
    } else out.push({ text: ch, width, space, wide })
  }
  return out
}

/** Lines of at most `columns` columns: breaks at spaces or between wide characters, a word too long by characters. */
export function wrap(s: string, columns: number, encoding?: TextEncoding): string[] {
  if (!Number.isInteger(columns) || columns < 2) throw new RangeError(`cannot wrap to ${columns} columns`)
  const lines: string[] = []
  let line = ''
  let width = 0
  const flush = () => {
    if (line.trim()) lines.push(line.trimEnd())
    line = ''
    width = 0
  }
  for (const t of tokens(s, encoding)) {
    if (t.space) {
      // Spaces end a line and never start a continued one; those that indent the first line stay.
      if ((width > 0 || lines.length === 0) && width + t.width < columns) {
        line += t.text
        width += t.width
      } else flush()
      continue
    }
    if (width + t.width > columns) flush()
    if (t.width <= columns) {
      line += t.text
      width += t.width
      continue
    }
    for (const ch of t.text) {
      const w = displayWidth(ch, encoding)
      if (width + w > columns) flush()
      line += ch
      width += w
    }
  }
  flush()
  return lines.length ? lines : ['']
}

/**
 * `left` and `right` on one line of exactly `columns` columns, `right` flush right; when they do not fit together,
 * `left` wraps and `right` goes flush right on the last line or on a line of its own.
 */
export function leftRight(left: string, right: string, columns: number, encoding?: TextEncoding): string[] {
  const rightWidth = displayWidth(right, encoding)
  const lines = wrap(left, columns, encoding)
  const last = lines[lines.length - 1]!
  if (displayWidth(last, encoding) + 1 + rightWidth <= columns) {
    lines[lines.length - 1] = padEnd(last, columns - rightWidth, encoding) + right
    return lines
  }
  return [...lines, ...wrap(right, columns, encoding).map((r) => padStart(r, columns, encoding))]
}

// ---------------------------------------------------------------------------------------------------------------
// Labels: one dictionary per language; a language is added by adding one more.

export type ReceiptLocale = 'zh-CN' | 'zh-TW' | 'en'

const zhCN = {
  tel: '电话 Tel',
  reprint: '重印 REPRINT',
  sale: '销售单 SALE',
  refund: '退货单 REFUND',
  originalReceipt: '原单号 Original',
  receiptNo: '单号 No.',
  register: '收银台 Till',
  cashier: '收银员 Cashier',
  time: '时间 Time',
  subtotal: '小计 Subtotal',
  discount: '优惠 Discount',
  tax: '税额 Tax',
  taxTotal: '税额合计 Tax total',
  taxIncluded: '以上价格已含税 Prices include tax',
  taxExcluded: '以上价格不含税 Prices exclude tax',
  rounding: '抹零 Rounding',
  total: '合计 TOTAL',
  refundTotal: '退款合计 REFUND',
  received: '实收 Received',
  change: '找零 Change',
  member: '会员 Member',
  memberName: '姓名 Name',
  pointsEarned: '本次积分 Points earned',
  pointsRedeemed: '使用积分 Points used',
  pointsBalance: '积分余额 Points balance',
  note: '备注 Note',
  thanks: '谢谢惠顾 Thank you',
  reprintedAt: '重印时间 Reprinted',
  voided: '作废 VOID',
  voidedAt: '作废时间 Voided',
  voidNotice: '已作废 非购物凭证 Not a proof of purchase',
  tender_cash: '现金 Cash',
  tender_card: '银行卡 Card',
  tender_wechat: '微信支付 WeChat Pay',
  tender_alipay: '支付宝 Alipay',
  tender_unionpay_qr: '云闪付 UnionPay QR',
  tender_coupon_voucher: '券 Voucher',
  tender_on_account: '挂账 On account',
  tender_stored_value: '储值 Stored value',
  tender_points: '积分 Points',
}

export type LabelKey = keyof typeof zhCN

const LABELS: Record<ReceiptLocale, Record<LabelKey, string>> = {
  'zh-CN': zhCN,
  'zh-TW': {
    tel: '電話 Tel',
    reprint: '重印 REPRINT',
    sale: '銷售單 SALE',
    refund: '退貨單 REFUND',
    originalReceipt: '原單號 Original',
    receiptNo: '單號 No.',
    register: '收銀台 Till',
    cashier: '收銀員 Cashier',
    time: '時間 Time',
    subtotal: '小計 Subtotal',
    discount: '優惠 Discount',
    tax: '稅額 Tax',
    taxTotal: '稅額合計 Tax total',
    taxIncluded: '以上價格已含稅 Prices include tax',
    taxExcluded: '以上價格不含稅 Prices exclude tax',
    rounding: '抹零 Rounding',
    total: '合計 TOTAL',
    refundTotal: '退款合計 REFUND',
    received: '實收 Received',
    change: '找零 Change',
    member: '會員 Member',
    memberName: '姓名 Name',
    pointsEarned: '本次積分 Points earned',
    pointsRedeemed: '使用積分 Points used',
    pointsBalance: '積分餘額 Points balance',
    note: '備註 Note',
    thanks: '謝謝惠顧 Thank you',
    reprintedAt: '重印時間 Reprinted',
    voided: '作廢 VOID',
    voidedAt: '作廢時間 Voided',
    voidNotice: '已作廢 非購物憑證 Not a proof of purchase',
    tender_cash: '現金 Cash',
    tender_card: '銀行卡 Card',
    tender_wechat: '微信支付 WeChat Pay',
    tender_alipay: '支付寶 Alipay',
    tender_unionpay_qr: '雲閃付 UnionPay QR',
    tender_coupon_voucher: '券 Voucher',
    tender_on_account: '掛賬 On account',
    tender_stored_value: '儲值 Stored value',
    tender_points: '積分 Points',
  },
  en: {
    tel: 'Tel',
    reprint: 'REPRINT',
    sale: 'SALE',
    refund: 'REFUND',
    originalReceipt: 'Original',
    receiptNo: 'No.',
    register: 'Till',
    cashier: 'Cashier',
    time: 'Time',
    subtotal: 'Subtotal',
    discount: 'Discount',
    tax: 'Tax',
    taxTotal: 'Tax total',
    taxIncluded: 'Prices include tax',
    taxExcluded: 'Prices exclude tax',
    rounding: 'Rounding',
    total: 'TOTAL',
    refundTotal: 'REFUND TOTAL',
    received: 'Received',
    change: 'Change',
    member: 'Member',
    memberName: 'Name',
    pointsEarned: 'Points earned',
    pointsRedeemed: 'Points used',
    pointsBalance: 'Points balance',
    note: 'Note',
    thanks: 'Thank you',
    reprintedAt: 'Reprinted',
    voided: 'VOID',
    voidedAt: 'Voided',
    voidNotice: 'VOIDED - not a proof of purchase',
    tender_cash: 'Cash',
    tender_card: 'Card',
    tender_wechat: 'WeChat Pay',
    tender_alipay: 'Alipay',
    tender_unionpay_qr: 'UnionPay QR',
    tender_coupon_voucher: 'Voucher',
    tender_on_account: 'On account',
    tender_stored_value: 'Stored value',
    tender_points: 'Points',
  },
}

/** A merchant's locale as a receipt language; unknown ones print in the default, Chinese with English. */
export const receiptLocale = (locale?: string | null): ReceiptLocale => (locale === 'zh-TW' || locale === 'en' ? locale : 'zh-CN')

export const label = (key: LabelKey, locale?: string | null) => LABELS[receiptLocale(locale)][key]

/** The printed name of a tender kind (the kind itself when the table has none). */
export function tenderLabel(kind: string, locale?: string | null): string {
  const key = `tender_${kind}`
  return key in zhCN ? label(key as LabelKey, locale) : kind
}

// ---------------------------------------------------------------------------------------------------------------
// Receipts and kitchen tickets

/** QR module size in dots: about 25 mm for a short URL on 80 mm paper, a little smaller on 58 mm. */
const qrModuleSize = (profile: PrinterProfile) => (profile.paperWidth === 58 ? 4 : 6)

/** A rate in basis points as a percentage: 1300 → "13%", 650 → "6.5%". */
function percent(bp: number): string {
  const digits = String(bp).padStart(3, '0')
  const frac = digits.slice(-2).replace(/0+$/, '')
  return `${digits.slice(0, -2)}${frac ? `.${frac}` : ''}%`
}

/** A member's card number as printed: only its last four characters. */
const maskCard = (cardNo: string) => (cardNo.length > 4 ? `****${cardNo.slice(-4)}` : cardNo)

/** Collects blocks for one profile; every string goes through `printable` first, so widths match what prints. */
function layout(profile: PrinterProfile) {
  const enc = profile.encoding
  const blocks: Block[] = []
  const push = (lines: string[], align: Align, bold: boolean, size: 1 | 2) => {
    for (const text of lines) blocks.push({ type: 'text', text, align, bold, size })
  }
  return {
    blocks,
    text(s: string, o: { align?: Align; bold?: boolean; size?: 1 | 2 } = {}) {
      const size = o.size ?? 1
      push(wrap(printable(s, enc), Math.floor(profile.columns / size), enc), o.align ?? 'left', o.bold ?? false, size)
    },
    pair(left: string, right: string, o: { bold?: boolean; size?: 1 | 2 } = {}) {
      const size = o.size ?? 1
      push(leftRight(printable(left, enc), printable(right, enc), Math.floor(profile.columns / size), enc), 'left', o.bold ?? false, size)
    },
    rule: () => blocks.push({ type: 'rule' }),
    qr: (data: string) => blocks.push({ type: 'qr', data, moduleSize: qrModuleSize(profile) }),
    end() {
      blocks.push({ type: 'feed', lines: 2 }, { type: 'cut' })
      return blocks
    },
  }
}

export function receiptBlocks(model: ReceiptModel, profile: PrinterProfile, locale?: string): Block[] {
  const L = LABELS[receiptLocale(locale)]
  const money = (minor: number) => formatDecimal(minor, model.currency)
  const out = layout(profile)

  out.text(model.merchantName, { align: 'center', bold: true, size: 2 })
  if (model.storeName !== model.merchantName) out.text(model.storeName, { align: 'center' })
  if (model.storeAddress) out.text(model.storeAddress, { align: 'center' })
  if (model.storePhone) out.text(`${L.tel} ${model.storePhone}`, { align: 'center' })
  // A voided sale's copy says so at its head and its foot, so neither half of it passes as proof of purchase.
  if (model.voidedAt) {
    out.text(L.voided, { align: 'center', bold: true, size: 2 })
    out.text(`${L.voidedAt} ${model.voidedAt}`, { align: 'center', bold: true })
  }
  if (model.reprint) out.text(L.reprint, { align: 'center', bold: true })
  out.text(model.kind === 'refund' ? L.refund : L.sale, { align: 'center', bold: true })
  out.rule()
  out.pair(L.receiptNo, model.receiptNo)
  if (model.originalReceiptNo) out.pair(L.originalReceipt, model.originalReceiptNo)
  out.pair(L.register, model.registerCode)
  if (model.cashier) out.pair(L.cashier, model.cashier)
  out.pair(L.time, model.printedAt)
  out.rule()

  for (const line of model.lines) {
    out.text(line.name)
    out.pair(`  ${line.quantity} x ${money(line.unitPrice)}${line.priceUnit ? `/${line.priceUnit}` : ''}`, money(line.gross))
    if (line.discount !== 0) out.pair(`  ${line.discountLabels.length ? line.discountLabels.join(' ') : L.discount}`, money(-line.discount))
  }
  out.rule()

  out.pair(L.subtotal, money(model.subtotal))
  if (model.discountTotal !== 0) out.pair(L.discount, money(-model.discountTotal))
  for (const t of model.taxes) out.pair(`${L.tax} ${percent(t.rateBp)}`, money(t.amount))
  out.pair(L.taxTotal, money(model.taxTotal))
  out.text(model.taxInclusive ? L.taxIncluded : L.taxExcluded)
  if (model.rounding !== 0) out.pair(L.rounding, money(model.rounding))
  out.pair(model.kind === 'refund' ? L.refundTotal : L.total, money(model.total + model.rounding), { bold: true, size: 2 })
  out.rule()

  for (const t of model.tenders) {
    out.pair(t.label, money(t.amount))
    if (t.received !== null && t.received !== t.amount) out.pair(`  ${L.received}`, money(t.received))
  }
  if (model.change !== 0 || model.tenders.some((t) => t.received !== null)) out.pair(L.change, money(model.change))

  if (model.member) {
    const m = model.member
    out.rule()
    out.pair(L.member, maskCard(m.cardNo))
    if (m.name) out.pair(L.memberName, m.name)
    if (model.kind === 'sale') out.pair(L.pointsEarned, String(m.pointsEarned))
    if (m.pointsRedeemed !== 0) out.pair(L.pointsRedeemed, String(m.pointsRedeemed))
    if (m.pointsBalance !== null) out.pair(L.pointsBalance, String(m.pointsBalance))
  }
  if (model.qr) out.qr(model.qr)
  if (model.footer.length || model.voidedAt) out.rule()
  for (const f of model.footer) out.text(f, { align: 'center' })
  if (model.voidedAt) {
    out.text(`${L.voided} ${model.voidedAt}`, { align: 'center', bold: true })
    out.text(L.voidNotice, { align: 'center', bold: true })
  }
  return out.end()
}

export function kitchenBlocks(ticket: KitchenTicket, profile: PrinterProfile, locale?: string): Block[] {
  const L = LABELS[receiptLocale(locale)]
  const out = layout(profile)
  if (ticket.voidedAt) {
    out.text(L.voided, { align: 'center', bold: true, size: 2 })
    out.text(`${L.voidedAt} ${ticket.voidedAt}`, { align: 'center', bold: true })
  }
  if (ticket.reprint) out.text(L.reprint, { align: 'center', bold: true })
  out.text(ticket.station, { align: 'center', bold: true, size: 2 })
  out.text(ticket.storeName, { align: 'center' })
  out.pair(L.receiptNo, ticket.receiptNo)
  out.pair(L.time, ticket.printedAt)
  out.rule()
  for (const line of ticket.lines) {
    out.text(`${line.quantity} x ${line.name}`, { bold: true, size: 2 })
    if (line.note) out.text(`  ${L.note}: ${line.note}`)
  }
  out.rule()
  return out.end()
}
