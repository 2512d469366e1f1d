// The settlement zip of a day through the 全渠道 file-transfer interface (文件传输类交易, txnType 76): one signed form
// POST naming merId and settleDate (MMDD); the answer carries the zip zlib-DEFLATE-compressed and base64-encoded in
// fileContent, signed with UnionPay's key. shared/reference/reconciliation.md §1.3.1.
import { createPrivateKey, createPublicKey } from 'node:crypto'
import fs from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createInflate } from 'node:zlib'
import type { ConnectorContext, FetchedStatement } from '../../framework/define.ts'
import { ConnectorError, type Classified, type HttpPolicy } from '../../framework/http-types.ts'
import { contentOnDisk } from '../../../core/reconciliation/file.ts'
import type { Spooled } from '../../../lib/spool.ts'
import { isDate } from '../../../lib/time.ts'
import { isZip } from '../bill-zip.ts'
import { base64Decoded, NotAnAnswerError, readAnswerFile, streamRange, verifyAnswer } from './answer-file.ts'
import { answerSigningKey, certSerialDecimal } from './certificates.ts'
import { beijingTxnTime, parseAnswer, signFields } from './signing.ts'

export const UNIONPAY_FILE_TRANSFER = 'https://filedownload.95516.com/'
export const UNIONPAY_FILE_TRANSFER_TEST = 'https://filedownload.test.95516.com/'
export const UNIONPAY_INN_FORMAT = 'unionpay_inn'

/** The answer's field with the zip (DEFLATE-compressed, base64-encoded). */
const FILE_CONTENT = 'fileContent'
/** 文件不存在: the day's file is not published yet. */
export const FILE_NOT_EXIST = '98'
/** 03/04/05 (timeout, state unknown), 06 (system busy), 02 (not open yet): asking again later may succeed. */
const RETRYABLE_CODES = new Set(['02', '03', '04', '05', '06'])
/** 11 signature check failed, 31 merchant status, 32 no permission: only the merchant can fix these. */
const AUTH_CODES = new Set(['11', '31', '32'])

export interface FileTransferConfig {
  merId?: string
  certId?: string
  merchantCert?: string
  privateKey?: string
  unionpayPublicKey?: string
  unionpayRootCert?: string
  unionpayMiddleCert?: string
  baseURL: string
}

/** How the shared client should take a gateway answer: respCode 00 and 98 are outcomes, the rest errors. */
export function classifyRespCode(fields: Record<string, string>): Classified {
  const code = fields.respCode ?? ''
  const detail = { vendorCode: code || undefined, message: fields.respMsg || `UnionPay answered respCode ${code || '(none)'}` }
  if (code === '00' || code === FILE_NOT_EXIST) return { kind: 'ok' }
  if (RETRYABLE_CODES.has(code)) return { kind: 'retryable', ...detail }
  if (AUTH_CODES.has(code)) return { kind: 'auth_failed', ...detail }
  return { kind: 'permanent', ...detail }
}

/**
 * The answer is downloaded to a file (see callFileTransfer) and `data` is its head. A short answer (every error is one)
 * is whole in the head and classified here, so the shared client retries and reports it like any vendor error; a
 * longer one carries a file and is read from disk by callFileTransfer.
 */
export const fileTransferClassifier: NonNullable<HttpPolicy['classify']> = (res) => {
  const head = res.data
  if (res.status >= 400 || !Buffer.isBuffer(head) || (res.file && res.file.size > head.length)) return undefined
  const fields = parseAnswer(head.toString('utf8'))
  if (!('respCode' in fields)) return { kind: 'permanent', message: 'not a UnionPay gateway answer (no respCode)' }
  return classifyRespCode(fields)
}

/** The merchant signing certificate's serial number: as configured, or read from the certificate. */
const certIdOf = (config: Pick<FileTransferConfig, 'certId' | 'merchantCert'>) => config.certId ?? (config.merchantCert ? certSerialDecimal(config.merchantCert) : undefined)

/** What is missing for the file-transfer interface; empty when the connection can fetch. */
export function missingForFetch(config: FileTransferConfig): string[] {
  const missing: string[] = []
  if (!config.merId) missing.push('merId')
  if (!certIdOf(config)) missing.push('certId (or merchantCert)')
  if (!config.privateKey) missing.push('privateKey')
  if (!config.unionpayPublicKey && !(config.unionpayRootCert && config.unionpayMiddleCert)) missing.push('unionpayPublicKey (or unionpayRootCert and unionpayMiddleCert)')
  return missing
}

const mmdd = (date: string) => date.slice(5, 7) + date.slice(8, 10)

/** The signed request fields of the day's file-transfer call. */
export function fileTransferRequest(config: Required<Pick<FileTransferConfig, 'merId' | 'certId' | 'privateKey'>>, date: string, now: Date): Record<string, string> {
  const fields: Record<string, string> = {
    version: '5.1.0',
    encoding: 'UTF-8',
    txnType: '76',
    txnSubType: '01',
    bizType: '000000',
    accessType: '0',
    signMethod: '01',
    certId: config.certId,
    merId: config.merId,
    settleDate: mmdd(date),
    txnTime: beijingTxnTime(now),
    fileType: '00',
  }
  return { ...fields, signature: signFields(fields, createPrivateKey(config.privateKey)) }
}

export interface FileTransferAnswer {
  /** Every field of the answer but fileContent. */
  fields: Record<string, string>
  /** fileContent as the answer carries it (base64 of the DEFLATE-compressed zip), streamed from the downloaded answer. */
  fileContent?: () => AsyncIterable<Buffer>
  /** Removes the downloaded answer. */
  discard(): Promise<void>
}

/**
 * Calls the file-transfer interface and returns its verified answer (errors are thrown by the client). The answer is
 * downloaded to a file as it arrives and read from there, so a day's file of any size is never held whole; the caller
 * discards it.
 */
export async function callFileTransfer(ctx: ConnectorContext<FileTransferConfig>, date: string, operation: string): Promise<FileTransferAnswer> {
  const { config } = ctx
  const missing = missingForFetch(config)
  if (missing.length > 0) {
    throw new ConnectorError('permanent', `UnionPay file transfer is not configured: credentials missing (${missing.join(', ')}); the flow file can still be uploaded`)
  }
  const request = fileTransferRequest({ merId: config.merId!, certId: certIdOf(config)!, privateKey: config.privateKey! }, date, ctx.now())
  const res = await ctx.http.request<Buffer>({
    method: 'POST',
    url: config.baseURL,
    data: new URLSearchParams(request).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
    responseType: 'file',
    operation,
    // A query: asking twice changes nothing.
    idempotent: true,
    timeoutMs: 120_000,
    signal: ctx.signal,
  })
  return verifiedAnswer(res.file!.path, config, ctx.now())
}

/**
 * The answer downloaded to `path`, read from there (fileContent left on disk), classified by its respCode and
 * verified with UnionPay's key; the file is removed when the answer is refused, else by the caller's discard().
 */
export async function verifiedAnswer(path: string, config: Pick<FileTransferConfig, 'merId' | 'unionpayPublicKey' | 'unionpayRootCert' | 'unionpayMiddleCert'>, now: Date): Promise<FileTransferAnswer> {
  const discard = () => fs.promises.rm(path, { force: true })
  try {
    const answer = await readAnswerFile(path, { onDisk: [FILE_CONTENT] }).catch((e: unknown) => {
      throw e instanceof NotAnAnswerError ? new ConnectorError('permanent', e.message) : e
    })
    const { fields } = answer
    // What the classifier could not see whole: a long answer is read here, by the same rules.
    const verdict = 'respCode' in fields ? classifyRespCode(fields) : { kind: 'permanent' as const, message: 'not a UnionPay gateway answer (no respCode)' }
    if (verdict.kind !== 'ok') throw new ConnectorError(verdict.kind, `UnionPay file transfer: ${verdict.message}`, { vendorCode: verdict.vendorCode })
    // An error UnionPay could not sign is already thrown; what comes here must be UnionPay's: verified with the key of
    // the signing certificate it carries, once that is shown to be UnionPay's, or with the configured public key.
    const chain = config.unionpayRootCert && config.unionpayMiddleCert ? { root: config.unionpayRootCert, middle: config.unionpayMiddleCert } : null
    const signer = chain ? answerSigningKey(fields.signPubKeyCert, chain, now) : { key: createPublicKey(config.unionpayPublicKey!) }
    if ('refused' in signer) throw new ConnectorError('auth_failed', `UnionPay's answer is not trusted: ${signer.refused}`, { vendorCode: 'certificate' })
    if (!(await verifyAnswer(answer, signer.key))) {
      const against = chain ? 'the key of the signing certificate it carries' : 'the configured UnionPay public key'
      throw new ConnectorError('auth_failed', `the UnionPay answer's signature does not verify with ${against} (respCode ${fields.respCode ?? '?'})`, { vendorCode: 'signature' })
    }
    if (fields.merId && fields.merId !== config.merId) throw new ConnectorError('permanent', `UnionPay answered for merchant ${fields.merId}, not ${config.merId}`)
    const content = answer.large[FILE_CONTENT]
    return { fields, fileContent: content ? () => streamRange(path, content) : undefined, discard }
  } catch (e) {
    await discard()
    throw e
  }
}

/**
 * The zip in a verified answer's fileContent, decoded and inflated as it streams from the downloaded answer straight
 * into `save` (the downloads spool); refused when it does not inflate or is no zip.
 */
export async function saveSettlementZip(answer: FileTransferAnswer, date: string, save: (source: AsyncIterable<Buffer>) => Promise<Spooled>): Promise<Spooled> {
  if (!answer.fileContent) throw new ConnectorError('permanent', `UnionPay answered respCode 00 for ${date} without fileContent`)
  let saved
  try {
    const inflated = createInflate()
    // A failure anywhere on the way destroys `inflated` with it, and the spool's read of it throws.
    pipeline(Readable.from(base64Decoded(answer.fileContent())), inflated).catch(() => {})
    saved = await save(inflated)
  } catch (e) {
    throw new ConnectorError('permanent', `the fileContent of UnionPay's answer for ${date} does not inflate (${e instanceof Error ? e.message : String(e)})`, { cause: e })
  }
  const head = Buffer.alloc(4)
  const fd = await fs.promises.open(saved.path, 'r')
  try {
    await fd.read(head, 0, 4, 0)
  } finally {
    await fd.close()
  }
  if (!isZip(head)) {
    await saved.discard()
    throw new ConnectorError('permanent', `the file UnionPay sent for ${date} is not a zip`)
  }
  return saved
}

/** A safe file name: UnionPay's when it is a plain name, else merId_settleDate.zip. */
const fileNameOf = (given: string | undefined, merId: string, date: string) =>
  given && /^[\w.\-]{1,120}$/.test(given) ? given : `${merId}_${date.replaceAll('-', '')}.zip`

export async function fetchSettlementZip(ctx: ConnectorContext<FileTransferConfig>, date: string): Promise<FetchedStatement> {
  if (!isDate(date)) throw new ConnectorError('permanent', `"${date}" is not a yyyy-MM-dd business date`)
  const answer = await callFileTransfer(ctx, date, 'fetchStatement')
  const { fields } = answer
  let saved
  try {
    if (fields.respCode === FILE_NOT_EXIST) {
      return { status: 'not_ready', message: `UnionPay has not published the settlement file of ${date} yet (respCode 98${fields.respMsg ? ` ${fields.respMsg}` : ''})` }
    }
    saved = await saveSettlementZip(answer, date, ctx.saveDownload)
  } finally {
    await answer.discard()
  }
  return {
    status: 'ready',
    files: [{ format: UNIONPAY_INN_FORMAT, name: fileNameOf(fields.fileName, ctx.config.merId!, date), contentType: 'application/zip', content: contentOnDisk(saved.path), discard: saved.discard }],
  }
}
