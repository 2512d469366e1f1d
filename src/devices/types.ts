// The shapes the device side shares: what a device is (kind, driver, address, printer profile), its normalized
// status, the receipt and kitchen-ticket models the renderers draw, and the unit of work a device executes — the same
// shape whether the hub drives the device directly or hands it to a store's bridge over the WebSocket.

import { DEVICE_DRIVERS, DEVICE_KINDS, TEXT_ENCODINGS, type DeviceDriver, type DeviceKind, type TextEncoding } from '../core/devices/schema.ts'

export { DEVICE_DRIVERS, DEVICE_KINDS, TEXT_ENCODINGS, type DeviceDriver, type DeviceKind, type TextEncoding }

/** How a printer lays text out: paper width and the columns of font A on it, encoding, Chinese (FS &) mode. */
export interface PrinterProfile {
  paperWidth: 58 | 80
  /** Columns of font A: 32 on 58 mm, 48 on 80 mm (42 on some models). A CJK glyph takes two. */
  columns: number
  encoding: TextEncoding
  /** Send FS & after ESC @ (Chinese printers' double-byte mode); GBK/GB18030/Big5 need it. */
  cjkMode: boolean
  /** Which drawer pin a kick pulses: 2 (m=0, the default) or 5 (m=1). */
  drawerPin: 2 | 5
}

export const defaultProfile = (paperWidth: 58 | 80 = 80, encoding: TextEncoding = 'gbk'): PrinterProfile => ({
  paperWidth,
  columns: paperWidth === 58 ? 32 : 48,
  encoding,
  cjkMode: encoding === 'gbk' || encoding === 'gb18030' || encoding === 'big5',
  drawerPin: 2,
})

/** A device's condition, normalized from DLE EOT bytes, an ePOS status mask, a display or scale reply. */
export interface DeviceStatus {
  /** null: the device did not answer a status request (many clones never do) — unknown, not offline. */
  online: boolean | null
  coverOpen?: boolean
  paper?: 'ok' | 'near_end' | 'end'
  /** The drawer-sense pin; its polarity depends on the drawer, so this is the raw level. */
  drawerOpen?: boolean
  cutterError?: boolean
  unrecoverableError?: boolean
  /** A short machine code for the worst condition (offline, cover_open, paper_end, cutter_error, unreachable…), null when fine. */
  problem: string | null
  checkedAt: string
}

// ---------------------------------------------------------------------------------------------------------------
// What gets printed

export interface ReceiptLine {
  name: string
  sku: string
  /** Quantity as printed: "2" for pieces, "0.350kg" for weighed goods. */
  quantity: string
  /** Unit price in minor units, per `priceUnit`. */
  unitPrice: number
  /**
   * What the price is per, where that is not one of the printed quantity's units (a piece, a kg, a L, a m): "12" for a
   * dozen, "500g" for a jin. Empty otherwise. Printed after the price, so quantity × price reads as the amount.
   */
  priceUnit: string
  /** What the line costs before its own discounts (minor units). */
  gross: number
  /** Discounts on the line (promotions, member price, manual), positive minor units. */
  discount: number
  /** What the line costs after discounts (minor units). */
  total: number
  /** Names of the discounts applied, printed under the line. */
  discountLabels: string[]
}

export interface ReceiptModel {
  kind: 'sale' | 'refund'
  /** Printed again at a person's request: marked so nobody takes it for a second sale. */
  reprint: boolean
  /**
   * When the sale was voided (local date and time, as printedAt), if it was before this copy printed: a reprint, or a
   * receipt that waited for its printer. Marked VOID at its head and foot so it is never taken as proof of purchase.
   */
  voidedAt?: string | null
  merchantName: string
  storeName: string
  storeAddress: string | null
  storePhone: string | null
  registerCode: string
  receiptNo: string
  /** For a refund: the receipt it refunds. */
  originalReceiptNo: string | null
  /** Local date and time as printed, in the merchant's time zone ("2026-12-02 11:42"). */
  printedAt: string
  cashier: string | null
  currency: string
  lines: ReceiptLine[]
  /** Sum of line gross amounts. */
  subtotal: number
  /** All discounts, positive minor units. */
  discountTotal: number
  /** Tax per rate (basis points) and the receipt's tax total (their sum). */
  taxes: { rateBp: number; amount: number }[]
  taxTotal: number
  taxInclusive: boolean
  total: number
  /** Cash rounding (抹零), negative when rounded down. */
  rounding: number
  tenders: { kind: string; label: string; amount: number; received: number | null }[]
  change: number
  member: { cardNo: string; name: string | null; pointsEarned: number; pointsRedeemed: number; pointsBalance: number | null } | null
  /** Encoded into a QR code at the foot (the e-receipt or member signup URL). */
  qr: string | null
  footer: string[]
}

export interface KitchenTicket {
  reprint: boolean
  /** When the sale was voided (local), if before this ticket printed (a reprint): marked VOID, nothing to prepare. */
  voidedAt?: string | null
  storeName: string
  /** The kitchen station (the printer's name). */
  station: string
  receiptNo: string
  printedAt: string
  lines: { name: string; quantity: string; note: string | null }[]
}

// ---------------------------------------------------------------------------------------------------------------
// The unit of work a device executes (hub-direct or through a bridge)

/** Where and how to reach a device, with what the driver needs (timeouts, a drawer's printer). */
export interface DeviceEndpoint {
  deviceId: string
  kind: DeviceKind
  driver: DeviceDriver
  /** host:port for *_tcp, a URL for epos_http, a serial path for *_serial, a reader id for stripe_terminal. */
  address: string
  /** For drawer_via_printer: the printer it is kicked through. */
  via?: DeviceEndpoint
  profile?: PrinterProfile
  /** A scale's continuous-output format. */
  scaleFormat?: 'cas22' | 'generic'
  /** A customer display's character set (printers carry theirs in the profile). */
  encoding?: TextEncoding
}

export type WorkPayload =
  | { format: 'escpos'; base64: string }
  | { format: 'epos'; xml: string }
  | { format: 'display'; lines: [string, string] }
  | { format: 'drawer'; pin: 2 | 5 }
  | { format: 'weigh' }

export type WorkAction = 'print' | 'drawer' | 'display' | 'weigh'

export interface DeviceWork {
  jobId: string
  /** Order of the store's jobs; a bridge runs a device's work in this order. */
  seq: number
  action: WorkAction
  endpoint: DeviceEndpoint
  payload: WorkPayload
  /** After this instant the work is dropped, never delivered late (drawer kicks: a few seconds). */
  expiresAt: string | null
  reprint: boolean
}

/**
 * What happened. done: the device confirmed (printed, kicked, shown, weighed). failed: provably not done — nothing
 * was sent (refused before sending: offline, paper end, cover open) or the device said so; `retryable` when the
 * cause can pass (paper, cover, unreachable). unknown: bytes may have reached the device but the outcome was lost
 * (link dropped mid-send); settled later by reading the device's status, never by resending. dropped: expired.
 */
export interface WorkResult {
  jobId: string
  outcome: 'done' | 'failed' | 'unknown' | 'dropped'
  /** Machine code of the reason (paper_end, cover_open, offline, unreachable, link_lost, expired, epos:EPTR_REC_EMPTY…). */
  reason: string | null
  message: string | null
  retryable: boolean
  status: DeviceStatus | null
  /** A weigh's result. */
  weight?: { grams: number; stable: true } | null
  finishedAt: string
}
