// UnionPay online gateway (银联全渠道): card and QR payments taken through the gateway, reconciled from the INN…ZM flow
// file of the daily settlement zip, fetched through the gateway's file-transfer interface (txnType 76) when the
// connection holds the merchant's signing key, or uploaded by the merchant for its settlement date.
import { z } from 'zod'
import { defineConnector, secret } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { addDays, businessDate, isTimeZone } from '../../../lib/time.ts'
import { parseUnionpayInn } from './bill-parser.ts'
import { contractedFeeMilli } from '../fees.ts'
import { callFileTransfer, fetchSettlementZip, fileTransferClassifier, FILE_NOT_EXIST, missingForFetch, UNIONPAY_FILE_TRANSFER, UNIONPAY_INN_FORMAT } from './file-transfer.ts'
import { isPrivateKeyPem, isPublicKeyPem } from './signing.ts'
import { certSerialDecimal, isCaCertificatePem, isCertificatePem, keyMatchesCertificate } from './certificates.ts'

export { UNIONPAY_INN_FORMAT, UNIONPAY_FILE_TRANSFER, UNIONPAY_FILE_TRANSFER_TEST } from './file-transfer.ts'

const UnionpayConfig = z.object({
  merId: z
    .string()
    .regex(/^\d{15}$/, 'a UnionPay merchant code (商户代码, merId) has 15 digits')
    .optional()
    .describe('商户代码 (merId): when set, a file of another merchant code is refused'),
  certId: z
    .string()
    .regex(/^\d{1,40}$/, 'certId is the decimal serial number of the merchant signing certificate')
    .optional()
    .describe('The serial number of the merchant signing certificate (certId), for fetching the settlement file; read from merchantCert when that is given'),
  merchantCert: z
    .string()
    .refine(isCertificatePem, 'the merchant signing certificate must be an X.509 certificate in PEM (from the PFX: openssl pkcs12 -in acp.pfx -clcerts -nokeys)')
    .optional()
    .describe('The merchant signing certificate: certId is its serial number, and privateKey must be its key'),
  privateKey: secret(z.string().refine(isPrivateKeyPem, 'the merchant signing key must be an RSA private key in PEM')).optional(),
  unionpayPublicKey: z
    .string()
    .refine(isPublicKeyPem, "UnionPay's signing public key must be an RSA public key or certificate in PEM")
    .optional()
    .describe("Verifies UnionPay's answers (the public key of UnionPay's signing certificate); or give the root and middle certificates"),
  unionpayRootCert: z
    .string()
    .refine(isCaCertificatePem, 'the UnionPay root certificate must be a CA certificate in PEM (acp_prod_root.cer)')
    .optional()
    .describe('With unionpayMiddleCert: the signing certificate each answer carries (signPubKeyCert) is checked against them and its key verifies the answer, following UnionPay’s renewals'),
  unionpayMiddleCert: z.string().refine(isCaCertificatePem, 'the UnionPay middle certificate must be a CA certificate in PEM (acp_prod_middle.cer)').optional(),
  baseURL: z.url().default(UNIONPAY_FILE_TRANSFER).describe('The file-transfer endpoint; https://filedownload.test.95516.com/ for the test environment'),
  currency: z.string().regex(/^[A-Z]{3}$/).default('CNY'),
  timeZone: z.string().default('Asia/Shanghai').refine(isTimeZone, 'not an IANA time zone').describe('The zone of the file’s transmission times (Beijing time)'),
  /** The contracted rate in basis points (60 = 0.60 %) and its cap per transaction in fen (debit cards are capped). */
  feeRateBp: z.int().min(0).max(10_000).optional(),
  feeCapFen: z.int().min(0).optional(),
})
  .refine((c) => !c.merchantCert || !c.privateKey || keyMatchesCertificate(c.privateKey, c.merchantCert), {
    path: ['merchantCert'],
    message: 'the merchant certificate is not the certificate of privateKey',
  })
  .refine((c) => !c.merchantCert || !c.certId || c.certId === certSerialDecimal(c.merchantCert), {
    path: ['certId'],
    message: 'certId is not the serial number of merchantCert (leave it out: it is read from the certificate)',
  })

export const unionpay = defineConnector({
  id: 'unionpay',
  family: 'payment',
  title: 'UnionPay (银联) online gateway',
  description: 'Card and QR payments through the UnionPay 全渠道 gateway: the INN flow file of the daily settlement zip, fetched through the file-transfer interface or uploaded, reconciled against the till.',
  config: UnionpayConfig,
  http: (config) => ({
    baseURL: config.baseURL,
    timeoutMs: 60_000,
    rateLimit: { perSecond: 2, burst: 2 },
    retry: { maxAttempts: 3, baseDelayMs: 300, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: fileTransferClassifier,
  }),
  async check(ctx) {
    const missing = missingForFetch(ctx.config)
    if (missing.length > 0) {
      return { ok: true, message: `UnionPay flow files are uploaded${ctx.config.merId ? ` for merchant ${ctx.config.merId}` : ''}; fetching them needs ${missing.join(', ')}` }
    }
    // Asking for an older day's file is read-only: any verified answer proves the keys both ways.
    const date = addDays(businessDate(ctx.now(), 'Asia/Shanghai'), -2)
    try {
      const answer = await callFileTransfer(ctx, date, 'check')
      await answer.discard()
      const file = answer.fields.respCode === FILE_NOT_EXIST ? 'no file' : 'a file'
      return { ok: true, message: `Connected to UnionPay as merchant ${ctx.config.merId} (signatures verified both ways; ${file} for ${date})` }
    } catch (e) {
      if (e instanceof ConnectorError) return { ok: false, message: `UnionPay refused or could not be reached: ${e.message}`, details: { kind: e.kind, vendorCode: e.vendorCode } }
      throw e
    }
  },
  capabilities: {
    fetchStatement: (ctx, { businessDate: date }) => fetchSettlementZip(ctx, date),
    // Without the file-transfer keys the connection is upload-only: the daily fetch skips it.
    fetches: (config) => missingForFetch(config).length === 0,
    parseStatement({ format, content, businessDate }, config) {
      if (format !== UNIONPAY_INN_FORMAT) throw new StatementFormatError(`the UnionPay connector reads format "${UNIONPAY_INN_FORMAT}", not "${format}"`)
      return parseUnionpayInn(content, { ...config, businessDate })
    },
    expectedFeeMilli: (line, config) => contractedFeeMilli(line, config.feeRateBp, config.feeCapFen),
  },
})
