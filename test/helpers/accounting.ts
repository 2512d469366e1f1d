// The worked example voucher shared by the accounting connector tests (vouchers.md section 6), and a builder of
// numbered vouchers from it.
import type { VoucherDocument, VoucherDocumentLine, VoucherExportResult } from '../../src/connectors/framework/accounting.ts'

export type Line = [summary: string, code: string, name: string, debit: number, credit: number, customer?: string]
/** The worked example of vouchers.md section 6: store S001, 2026-11-20, in fen. */
export const EXAMPLE: Line[] = [
  ['11/20 S001 现金收款(实点)', '1001', '库存现金', 15600, 0],
  ['11/20 S001 现金短款', '1901', '待处理财产损溢', 50, 0],
  ['11/20 S001 微信收款(含储值充值 500.00)', '1012.01', '其他货币资金-微信', 96500, 0],
  ['11/20 S001 支付宝收款', '1012.02', '其他货币资金-支付宝', 10920, 0],
  ['11/20 S001 银行卡收款', '1122.01', '应收账款-银联', 113000, 0, 'UNIONPAY'],
  ['11/20 S001 储值消费', '2203.01', '预收账款-会员储值', 9160, 0],
  ['11/20 S001 会员储值充值', '2203.01', '预收账款-会员储值', 0, 50000],
  ['11/20 S001 销售收入 13%', '6001', '主营业务收入', 0, 177769],
  ['11/20 S001 销售退货 13%', '6001', '主营业务收入', 5000, 0],
  ['11/20 S001 销项税额 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 0, 23111],
  ['11/20 S001 退货冲减销项 13%', '2221.01.01', '应交税费-应交增值税(销项税额)', 650, 0],
  ['11/20 S001 微信手续费', '6603.02', '财务费用-手续费', 579, 0],
  ['11/20 S001 微信手续费', '1012.01', '其他货币资金-微信', 0, 579],
  ['11/20 S001 支付宝手续费', '6603.02', '财务费用-手续费', 66, 0],
  ['11/20 S001 支付宝手续费', '1012.02', '其他货币资金-支付宝', 0, 66],
  ['11/20 S001 银联手续费', '6603.02', '财务费用-手续费', 678, 0],
  ['11/20 S001 银联手续费', '1122.01', '应收账款-银联', 0, 678, 'UNIONPAY'],
  ['11/20 S001 结转销售成本', '6401', '主营业务成本', 116500, 0],
  ['11/20 S001 结转销售成本', '1405', '库存商品', 0, 116500],
]

/** The result of a delivered voucher, failing the test on a rejection. */
export function delivered(r: VoucherExportResult) {
  if (r.status === 'rejected') throw new Error(`expected the voucher to be delivered, got ${r.reason} ${r.code}: ${r.message}`)
  return r
}

/**
 * Numbered vouchers of `lines` (the worked example unless given), with `over` on top: the nth is reference
 * TB-S001-20261120-R<n> with idempotency key `idempotencyPrefix` and n in 12 digits.
 */
export function voucherMaker(idempotencyPrefix: string) {
  let voucherSeq = 0
  return function voucher(over: Partial<VoucherDocument> = {}, lines: Line[] = EXAMPLE): VoucherDocument {
    const n = ++voucherSeq
    return {
      reference: `TB-S001-20261120-R${n}`,
      idempotencyKey: `${idempotencyPrefix}${String(n).padStart(12, '0')}`,
      kind: 'daily',
      date: '2026-11-20',
      businessDate: '2026-11-20',
      word: '记',
      currency: 'CNY',
      corrects: null,
      narration: 'POS daily voucher S001 2026-11-20',
      store: { id: '0192f7a0-0000-7000-8000-000000000001', code: 'S001', name: 'Shanghai Flagship' },
      lines: lines.map(([summary, code, name, debit, credit, customer], i): VoucherDocumentLine => ({
        lineNo: i + 1,
        summary,
        account: { code, name },
        dimensions: { department: 'S001', ...(customer ? { customer } : {}) },
        debit,
        credit,
      })),
      attachments: 0,
      ...over,
    }
  }
}
