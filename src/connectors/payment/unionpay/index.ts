// UnionPay online gateway (银联全渠道): card and QR payments taken through the gateway, reconciled from the INN…ZM flow
// file of the daily settlement zip, which the merchant uploads for its settlement date. Fetching the zip through the
// gateway's file-transfer API is not built.
import { z } from 'zod'
import { defineConnector } from '../../framework/define.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { parseUnionpayInn } from './bill-parser.ts'
import { contractedFeeMilli } from '../fees.ts'

export const UNIONPAY_INN_FORMAT = 'unionpay_inn'

const UnionpayConfig = z.object({
  merId: z
    .string()
    .regex(/^\d{15}$/, 'a UnionPay merchant code (商户代码, merId) has 15 digits')
    .optional()
    .describe('商户代码 (merId): when set, a file of another merchant code is refused'),
  currency: z.string().regex(/^[A-Z]{3}$/).default('CNY'),
  timeZone: z.string().default('Asia/Shanghai').describe('The zone of the file’s transmission times (Beijing time)'),
  /** The contracted rate in basis points (60 = 0.60 %) and its cap per transaction in fen (debit cards are capped). */
  feeRateBp: z.int().min(0).max(10_000).optional(),
  feeCapFen: z.int().min(0).optional(),
})

export const unionpay = defineConnector({
  id: 'unionpay',
  family: 'payment',
  title: 'UnionPay (银联) online gateway',
  description: 'Card and QR payments through the UnionPay 全渠道 gateway: upload the INN flow file of the daily settlement zip to reconcile it against the till.',
  config: UnionpayConfig,
  // Files are uploaded; the client is never used.
  http: { baseURL: 'https://gateway.95516.com' },
  async check(ctx) {
    return { ok: true, message: `UnionPay flow files are uploaded${ctx.config.merId ? ` for merchant ${ctx.config.merId}` : ''}; there is nothing to sign in to` }
  },
  capabilities: {
    parseStatement({ format, content, businessDate }, config) {
      if (format !== UNIONPAY_INN_FORMAT) throw new StatementFormatError(`the UnionPay connector reads format "${UNIONPAY_INN_FORMAT}", not "${format}"`)
      return parseUnionpayInn(content, { ...config, businessDate })
    },
    expectedFeeMilli: (line, config) => contractedFeeMilli(line, config.feeRateBp, config.feeCapFen),
  },
})
