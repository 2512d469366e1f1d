// Allinpay (通联支付) POS card acquiring: the merchant downloads the daily card bill from the acquirer's portal and
// uploads it; there is no API to call. Lines carry the slip's reference data (参考号, 凭证号, 终端号) so card payments
// the till recorded without an order number can still be matched.
import { z } from 'zod'
import { defineConnector } from '../../framework/define.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { parseAllinpayBill } from './bill-parser.ts'
import { contractedFeeMilli } from '../fees.ts'
import { isTimeZone } from '../../../lib/time.ts'

const AllinpayConfig = z.object({
  merchantNo: z
    .string()
    .regex(/^\d{15}$/, 'an Allinpay merchant number (商户号) has 15 digits')
    .optional()
    .describe('商户号: when set, a bill of another merchant number is refused'),
  currency: z.string().regex(/^[A-Z]{3}$/).default('CNY'),
  timeZone: z.string().default('Asia/Shanghai').refine(isTimeZone, 'not an IANA time zone').describe('The zone of the bill’s dates and times'),
  encoding: z.enum(['auto', 'utf-8', 'gbk']).default('auto').describe('auto: UTF-8 when the bytes are valid UTF-8, otherwise GBK'),
  /** The contracted rate in basis points (60 = 0.60 %) and its cap per transaction in fen (debit cards are capped). */
  feeRateBp: z.int().min(0).max(10_000).optional(),
  feeCapFen: z.int().min(0).optional(),
})

export const allinpay = defineConnector({
  id: 'allinpay',
  family: 'payment',
  title: 'Allinpay (通联) card acquiring',
  description: 'POS card payments acquired by Allinpay: upload the daily card bill (CSV) to reconcile it against the till.',
  config: AllinpayConfig,
  // Bills are uploaded; the client is never used.
  http: { baseURL: 'https://vsp.allinpay.com' },
  async check(ctx) {
    return { ok: true, message: `Allinpay bills are uploaded as files${ctx.config.merchantNo ? ` for merchant ${ctx.config.merchantNo}` : ''}; there is nothing to sign in to` }
  },
  capabilities: {
    parseStatement({ format, content }, config) {
      if (format !== 'allinpay') throw new StatementFormatError(`the Allinpay connector reads format "allinpay", not "${format}"`)
      return parseAllinpayBill(content, config)
    },
    expectedFeeMilli: (line, config) => contractedFeeMilli(line, config.feeRateBp, config.feeCapFen),
  },
})
