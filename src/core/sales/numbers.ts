// Numbers people and channels see: receipt numbers per store and business day, and the merchant-side payment and
// refund numbers (out_trade_no / out_refund_no) that the channels' settlement files will show.
import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'

/** "<store code>-<yyyymmdd>-<register code>-": what every receipt number of a register's business day starts with. */
export const receiptPrefix = (storeCode: string, registerCode: string, businessDate: string, kind: 'sale' | 'refund' | 'topup') =>
  `${storeCode}-${businessDate.replaceAll('-', '')}-${registerCode}-${kind === 'refund' ? 'R' : kind === 'topup' ? 'T' : ''}`

/**
 * The next receipt number of a register's business day in its store: "<store>-<yyyymmdd>-<register>-<seq>", refunds
 * "…-R<seq>". Unique per store and day; the counter row stays locked until commit, so it is taken late.
 */
export async function nextReceiptNo(
  tx: Tx,
  merchantId: string,
  at: { storeId: string; storeCode: string; registerId: string; registerCode: string },
  businessDate: string,
  kind: 'sale' | 'refund' | 'topup',
): Promise<string> {
  const r = await tx.execute<{ last_seq: number }>(sql`
    insert into receipt_sequences (merchant_id, store_id, register_id, business_date, kind, last_seq)
    values (${merchantId}, ${at.storeId}, ${at.registerId}, ${businessDate}, ${kind}, 1)
    on conflict (register_id, business_date, kind) do update set last_seq = receipt_sequences.last_seq + 1
    returning last_seq`)
  return receiptPrefix(at.storeCode, at.registerCode, businessDate, kind) + String(r.rows[0]!.last_seq).padStart(4, '0')
}

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ' // Crockford base32: no I, L, O, U

function stamp(at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${String(at.getUTCFullYear()).slice(2)}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}`
}

function random(n: number): string {
  const bytes = randomBytes(n)
  let out = ''
  for (const b of bytes) out += ALPHABET[b % 32]
  return out
}

/**
 * A payment number: "TB" + UTC yymmddHHMMSS + 8 random base32 characters = 22 characters, inside every channel's
 * limits (WeChat Pay out_trade_no 6–32 of [0-9A-Za-z_-|*], Alipay 64, UnionPay 40). Unique by index.
 */
export const newPaymentNo = (at = new Date()) => `TB${stamp(at)}${random(8)}`

/** A refund number: "TR" + the same shape (WeChat Pay out_refund_no allows 64). */
export const newRefundNo = (at = new Date()) => `TR${stamp(at)}${random(8)}`

/** What a till may send as its own payment number (when its terminal already charged with one). */
export const PAYMENT_NO = /^[0-9A-Za-z_\-|*]{6,32}$/
