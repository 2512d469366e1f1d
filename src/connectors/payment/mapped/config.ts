// The column mapping a merchant sets once per connection for a bank's or acquirer's export that has no connector of
// its own: which header holds which field, how its amounts, signs and times are written, and how the file is encoded.
import { z } from 'zod'
import { compilePattern } from '../tabular.ts'
import { isTimeZone } from '../../../lib/time.ts'

const Header = z.string().trim().min(1).max(200)

export const MappedColumns = z
  .object({
    ourRef: Header.optional().describe('Our reference: out_trade_no on payments, out_refund_no on refunds'),
    ourPaymentRef: Header.optional().describe('On refunds, the reference of the payment refunded'),
    channelTxnId: Header.optional().describe('The bank’s or acquirer’s transaction id'),
    channelRefundId: Header.optional(),
    amount: Header.describe('The amount, in amountUnit'),
    fee: Header.optional().describe('The fee, in amountUnit (up to 3 more decimals than the amount)'),
    time: Header.describe('The transaction time (or its time of day when `date` is mapped too), in timeFormat'),
    date: Header.optional().describe('The transaction date when the file prints it apart from the time, in dateFormat'),
    type: Header.optional().describe('The transaction type; its values are listed in typeValues'),
    currency: Header.optional().describe('Per-line currency (ISO 4217, RMB or 人民币); otherwise `currency` applies'),
    status: Header.optional(),
    rrn: Header.optional().describe('Card slip retrieval reference number (参考号)'),
    terminal: Header.optional().describe('Terminal id (终端号)'),
    voucher: Header.optional().describe('Card slip voucher/trace number (凭证号)'),
    store: Header.optional(),
    payoutRef: Header.optional(),
  })
  .strict()

const Values = z.array(z.string().trim().min(1).max(100)).max(50).default([])

export const TypeValues = z
  .object({ payment: Values, refund: Values, payout: Values, fee: Values, adjustment: Values, ignore: Values.describe('Types that are not settlement lines (pre-authorisations, balance queries)') })
  .strict()

const SPECIAL_TIME_FORMATS = ['unix', 'unix_ms', 'iso'] as const

/** The wall-clock fields a pattern names, or null when it is not a pattern. */
const patternFields = (p: string): readonly string[] | null => {
  try {
    return compilePattern(p).fields
  } catch {
    return null
  }
}
const validPattern = (p: string) => patternFields(p) !== null
const hasDate = (fields: readonly string[] | null) => !!fields && ['year', 'month', 'day'].every((f) => fields.includes(f))


export const MappedConfig = z
  .object({
    columns: MappedColumns,
    timeFormat: z
      .string()
      .default('yyyy-MM-dd HH:mm:ss')
      .describe('A pattern of yyyy MM dd HH mm ss (M d H unpadded) with literal separators, or unix, unix_ms, iso'),
    dateFormat: z.string().default('yyyy-MM-dd').describe('The pattern of the `date` column, when mapped'),
    timeZone: z.string().default('Asia/Shanghai').refine(isTimeZone, 'not an IANA time zone'),
    typeValues: TypeValues.optional().describe('Which values of the `type` column mean a payment, a refund, …'),
    amountUnit: z.enum(['yuan', 'fen']).default('yuan').describe('yuan: major units with decimals; fen: integer minor units'),
    refundSign: z
      .enum(['negative', 'positive'])
      .default('negative')
      .describe('negative: refunds are printed as negative amounts (without a type column, a negative amount is a refund)'),
    feeSign: z.enum(['charged_positive', 'charged_negative']).default('charged_positive').describe('How a fee charged to the merchant is printed'),
    feeRateBp: z.int().min(0).max(10_000).optional().describe('The contracted fee rate in basis points (60 = 0.60 %): fees are checked against it (fee_diff); without it they are not'),
    feeCap: z.int().min(0).optional().describe('The contract’s cap on the fee of one transaction, in minor units (debit cards are often capped)'),
    currency: z.string().regex(/^[A-Z]{3}$/).default('CNY'),
    encoding: z.enum(['utf-8', 'gbk']).default('utf-8').describe('Text encoding of CSV files (XLSX is always Unicode)'),
    delimiter: z.enum([',', ';', '\t', '|']).default(','),
    sheet: z.string().trim().min(1).max(31).optional().describe('The worksheet of an XLSX file (default: the first)'),
    skipRowsStartingWith: z.array(z.string().min(1).max(20)).max(20).default(['#', '合计', '总计']).describe('Rows whose first cell starts so are comments or totals'),
  })
  .superRefine((c, ctx) => {
    const { columns } = c
    if (!columns.ourRef && !columns.channelTxnId && !columns.rrn && !columns.voucher) {
      ctx.addIssue({ code: 'custom', path: ['columns'], message: 'map at least one reference column: ourRef, channelTxnId, rrn or voucher' })
    }
    if (!(SPECIAL_TIME_FORMATS as readonly string[]).includes(c.timeFormat) && !validPattern(c.timeFormat)) {
      ctx.addIssue({ code: 'custom', path: ['timeFormat'], message: `"${c.timeFormat}" is not a time pattern (yyyy MM dd HH mm ss) nor unix, unix_ms or iso` })
    }
    const special = (SPECIAL_TIME_FORMATS as readonly string[]).includes(c.timeFormat)
    if (!columns.date && !special && validPattern(c.timeFormat) && !hasDate(patternFields(c.timeFormat))) {
      ctx.addIssue({ code: 'custom', path: ['timeFormat'], message: `"${c.timeFormat}" has no full date (yyyy, MM, dd): map a date column or use a date-and-time pattern` })
    }
    if (columns.date) {
      if (!hasDate(patternFields(c.dateFormat))) ctx.addIssue({ code: 'custom', path: ['dateFormat'], message: `"${c.dateFormat}" is not a date pattern with yyyy, MM and dd` })
      if ((SPECIAL_TIME_FORMATS as readonly string[]).includes(c.timeFormat)) {
        ctx.addIssue({ code: 'custom', path: ['timeFormat'], message: 'with a separate date column the time column needs a pattern such as HH:mm:ss' })
      }
    }
    if (columns.type && !(c.typeValues && (c.typeValues.payment.length || c.typeValues.refund.length))) {
      ctx.addIssue({ code: 'custom', path: ['typeValues'], message: 'a type column needs typeValues saying which values are payments and refunds' })
    }
    if (c.typeValues && !columns.type) ctx.addIssue({ code: 'custom', path: ['columns', 'type'], message: 'typeValues are given but no type column is mapped' })
    if (c.typeValues) {
      const seen = new Map<string, string>()
      for (const [kind, values] of Object.entries(c.typeValues)) {
        for (const v of values) {
          const key = v.toLowerCase()
          if (seen.has(key) && seen.get(key) !== kind) ctx.addIssue({ code: 'custom', path: ['typeValues', kind], message: `"${v}" is listed as both ${seen.get(key)} and ${kind}` })
          seen.set(key, kind)
        }
      }
    }
  })

export type MappedConfig = z.infer<typeof MappedConfig>
export type MappedField = keyof z.infer<typeof MappedColumns>
