// Alipay (支付宝) as a settlement channel: the daily trade bill (业务明细) is asked for with
// alipay.data.dataservice.bill.downloadurl.query (RSA2-signed, answer verified with the Alipay public key),
// downloaded from the 30-second URL it returns, and parsed from its GBK zip (shared/reference/reconciliation.md §1.2).
import fs from 'node:fs'
import iconv from 'iconv-lite'
import { z } from 'zod'
import { contractedFeeMilli } from '../fees.ts'
import { addDays, businessDate, isDate, startOfBusinessDay } from '../../../lib/time.ts'
import { defineConnector, secret, type ConnectorContext, type FetchedStatement } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { BILL_ENCODING, isZip } from '../bill-zip.ts'
import { ALIPAY_GATEWAY, BILL_NOT_EXIST, BILL_URL_METHOD, callGateway, gatewayClassifier } from './gateway.ts'
import { ALIPAY_TRADE_FORMAT, parseAlipayTrade } from './parse-trade.ts'
import { isRsaPrivateKey, isRsaPublicKey } from './sign.ts'
import { contentOnDisk } from '../../../core/reconciliation/file.ts'

export { ALIPAY_GATEWAY } from './gateway.ts'
export { ALIPAY_TRADE_FORMAT } from './parse-trade.ts'

/** Alipay's bills are dated and cut in Beijing time. */
export const ALIPAY_TIME_ZONE = 'Asia/Shanghai'
/**
 * Alipay generates a day's bill "一般于次日 9 点前". Until noon Beijing time the next day, "no bill" is read as "not
 * generated yet"; after it, as "nothing to bill that day" (the gateway answers isp.bill_not_exist for both).
 */
export const BILL_DEADLINE_HOUR = 12
/** A download URL lives 30 seconds; a URL that expired before its download finished is asked for again this often. */
export const URL_ROUNDS = 3

const AlipayConfig = z.object({
  appId: z.string().regex(/^\d{16}$/, 'an Alipay app id (APPID) is 16 digits, such as 2021004100000000'),
  pid: z.string().regex(/^2088\d{12}$/, 'a partner id (PID) is 16 digits starting with 2088'),
  appPrivateKey: secret(
    z.string().refine(isRsaPrivateKey, "the app private key must be an RSA private key: PEM, or the bare base64 PKCS#8 key of Alipay's key tool"),
  ),
  alipayPublicKey: z
    .string()
    .refine(isRsaPublicKey, "the Alipay public key (支付宝公钥) must be an RSA public key: PEM, or the bare base64 key shown on Alipay's console")
    .describe("Verifies Alipay's answers; shown on the app's 接口加签方式 page (public-key mode)"),
  gateway: z.url().default(ALIPAY_GATEWAY).describe('Only changed for a sandbox'),
  feeRateBp: z.number().int().min(0).max(10_000).default(60).describe('Contracted service fee rate in basis points (60 = 0.6 %)'),
})
type AlipayConfig = z.infer<typeof AlipayConfig>

const compact = (date: string) => date.replaceAll('-', '')

/** The end of the time Alipay may still be generating the bill of `date`. */
export const billDeadline = (date: string): Date => new Date(startOfBusinessDay(addDays(date, 1), ALIPAY_TIME_ZONE).getTime() + BILL_DEADLINE_HOUR * 3600_000)

type Download = { path: string; discard: () => Promise<void> } | { expired: string }

/** Downloads the bill to a file as it arrives (a zip of any size is never held whole). */
async function download(ctx: ConnectorContext<AlipayConfig>, url: string): Promise<Download> {
  let res
  try {
    res = await ctx.http.request<Buffer>({ method: 'GET', url, responseType: 'file', operation: 'downloadStatement', timeoutMs: 120_000, signal: ctx.signal })
  } catch (e) {
    // A URL past its life may be answered with a 4xx: asking for a new one is the way out.
    if (e instanceof ConnectorError && e.kind === 'permanent' && e.status !== undefined && e.status < 500) return { expired: e.message }
    throw e
  }
  const saved = res.file!
  const discard = () => fs.promises.rm(saved.path, { force: true })
  const head = Buffer.from(res.data)
  if (isZip(head)) return { path: saved.path, discard }
  await discard()
  // After 30 seconds the file server answers with a page saying "下载超时,请重新下载" instead of the zip.
  return { expired: iconv.decode(head.subarray(0, 600), BILL_ENCODING).replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200) }
}

async function fetchTradeBill(ctx: ConnectorContext<AlipayConfig>, date: string): Promise<FetchedStatement> {
  if (!isDate(date)) throw new ConnectorError('permanent', `"${date}" is not a yyyy-MM-dd business date`)
  const today = businessDate(ctx.now(), ALIPAY_TIME_ZONE)
  // The gateway refuses today's and later dates outright: the bill of a day exists from the next day on.
  if (date >= today) return { status: 'not_ready', message: `Alipay publishes the bill of ${date} on the next day, by about 09:00 Beijing time` }

  let lastExpiry = ''
  for (let round = 1; round <= URL_ROUNDS; round++) {
    const answer = await callGateway(ctx, BILL_URL_METHOD, { bill_type: 'trade', bill_date: date }, 'fetchStatement')
    if (answer.node.sub_code === BILL_NOT_EXIST) {
      if (ctx.now() < billDeadline(date)) return { status: 'not_ready', message: `Alipay has not generated the trade bill of ${date} yet (${BILL_NOT_EXIST})` }
      return { status: 'empty', message: `Alipay has no trade bill for ${date}: no API transactions that day (${BILL_NOT_EXIST} after ${BILL_DEADLINE_HOUR}:00 the next day)` }
    }
    const url = answer.node.bill_download_url
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new ConnectorError('permanent', `Alipay answered ${BILL_URL_METHOD} without a bill_download_url`)
    const got = await download(ctx, url)
    if ('path' in got) {
      const name = new URL(url).searchParams.get('downloadFileName') || `${ctx.config.pid}0156_${compact(date)}.csv.zip`
      return { status: 'ready', files: [{ format: ALIPAY_TRADE_FORMAT, name, contentType: 'application/zip', content: contentOnDisk(got.path), discard: got.discard }] }
    }
    lastExpiry = got.expired
  }
  throw new ConnectorError('retryable', `the bill download URL of ${date} expired ${URL_ROUNDS} times before its download finished (last answer: ${lastExpiry})`)
}

export const alipay = defineConnector({
  id: 'alipay',
  family: 'payment',
  title: 'Alipay',
  description: 'Alipay (支付宝) in-store and online payments: the daily trade bill, its refunds and service fees.',
  config: AlipayConfig,
  http: (config) => ({
    baseURL: config.gateway,
    timeoutMs: 20_000,
    rateLimit: { perSecond: 5, burst: 5 },
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: gatewayClassifier(config.alipayPublicKey),
  }),
  async check(ctx) {
    // The bill query is read-only and needs only the app's keys: any answer but a refusal proves them.
    const date = addDays(businessDate(ctx.now(), ALIPAY_TIME_ZONE), -2)
    try {
      const answer = await callGateway(ctx, BILL_URL_METHOD, { bill_type: 'trade', bill_date: date }, 'check')
      const bill = answer.node.sub_code === BILL_NOT_EXIST ? 'no bill' : 'a bill'
      return { ok: true, message: `Connected to Alipay as app ${ctx.config.appId} (signatures verified both ways; ${bill} for ${date})`, details: { appId: ctx.config.appId } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') {
        return { ok: false, message: `Alipay refused the connection (${e.vendorCode ?? 'signature'}): check the app id, the app private key, and the Alipay public key of this app`, details: { kind: e.kind, vendorCode: e.vendorCode } }
      }
      if (e instanceof ConnectorError) return { ok: false, message: `Alipay could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    fetchStatement: (ctx, { businessDate: date }) => fetchTradeBill(ctx, date),
    parseStatement({ format, content }, config) {
      // A zip archive is read from its end (the central directory): with random access from disk, or from memory.
      if (format !== ALIPAY_TRADE_FORMAT) throw new StatementFormatError(`Alipay statements are ${ALIPAY_TRADE_FORMAT}, not ${format}`)
      return parseAlipayTrade(content, { pid: config.pid })
    },
    /** Alipay charges its rate on each payment and gives the same share back on a refund. */
    expectedFeeMilli: (line, config) => contractedFeeMilli(line, config.feeRateBp),
  },
})
