// Delivery by email: one message per voucher through the connection's SMTP server (nodemailer, not the shared HTTP
// client), with a Message-ID derived from the voucher's reference so a re-send is recognisable as the same voucher,
// and the SMTP replies classified: a refused recipient or message is a rejection, a lost connection or a 4xx reply
// is worth retrying, a refused login is auth_failed.
import nodemailer from 'nodemailer'
import { createRedactor } from '../../framework/call-log.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { minorToDecimal, type VoucherDocument, type VoucherExportResult } from '../../framework/accounting.ts'
import type { ConnectorContext } from '../../framework/define.ts'
import { voucherCsvFile, voucherFileName, voucherXlsx, XLSX_CONTENT_TYPE, type VoucherRenderOptions } from './render.ts'

export interface MailConfig {
  smtpHost: string
  smtpPort: number
  secure: boolean
  username?: string
  password?: string
  from: string
  recipients: string[]
  timeoutMs: number
}

export interface VoucherAttachment {
  filename: string
  contentType: string
  content: Buffer
}

export function transportFor(config: MailConfig) {
  return nodemailer.createTransport({
    host: config.smtpHost,
    port: config.smtpPort,
    secure: config.secure,
    auth: config.username ? { user: config.username, pass: config.password ?? '' } : undefined,
    connectionTimeout: config.timeoutMs,
    greetingTimeout: config.timeoutMs,
    socketTimeout: config.timeoutMs,
    // Nodemailer's own log would carry the SMTP dialogue, AUTH included: it stays off.
    logger: false,
    debug: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  })
}

/** `<TB-S001-20261120-R1@tillbridge>`: the same on every send of this revision. */
export function voucherMessageId(reference: string): string {
  return `<${reference.replace(/[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]/g, '_')}@tillbridge>`
}

const KIND_LABEL: Record<VoucherDocument['kind'], string> = { daily: '', reversal: '(红字冲销)', difference: '(差额)' }

export function voucherSubject(v: VoucherDocument): string {
  return `记账凭证${KIND_LABEL[v.kind]} ${v.businessDate} ${v.store?.code ?? '全部门店'} ${v.reference}`
}

export function voucherBody(v: VoucherDocument, files: VoucherAttachment[]): string {
  const debit = v.lines.reduce((s, l) => s + l.debit, 0)
  const credit = v.lines.reduce((s, l) => s + l.credit, 0)
  return [
    `记账凭证 Voucher ${v.reference}`,
    `门店 Store: ${v.store ? `${v.store.code} ${v.store.name}` : '全部门店 All stores'}`,
    `业务日期 Business day: ${v.businessDate}`,
    `凭证日期 Posting date: ${v.date}`,
    `凭证字 Word: ${v.word}   分录 Entries: ${v.lines.length}   附件数 Attachments: ${v.attachments}`,
    `借方合计 Total debit: ${minorToDecimal(debit, v.currency)} ${v.currency}`,
    `贷方合计 Total credit: ${minorToDecimal(credit, v.currency)} ${v.currency}`,
    ...(v.corrects ? [`更正 Corrects: ${v.corrects}`] : []),
    '',
    v.narration,
    '',
    `文件 Files: ${files.map((f) => f.filename).join(', ')}`,
    '',
  ].join('\n')
}

export async function voucherAttachments(v: VoucherDocument, format: 'csv' | 'xlsx' | 'both', render: VoucherRenderOptions): Promise<VoucherAttachment[]> {
  const out: VoucherAttachment[] = []
  if (format !== 'xlsx') {
    const file = voucherCsvFile(v, render)
    out.push({ filename: file.filename, contentType: file.contentType, content: file.bytes })
  }
  if (format !== 'csv') out.push({ filename: voucherFileName(v, 'xlsx'), contentType: XLSX_CONTENT_TYPE, content: await voucherXlsx(v, render) })
  return out
}

interface SmtpFailure {
  code?: string
  command?: string
  response?: string
  responseCode?: number
  rejectedErrors?: SmtpFailure[]
  recipient?: string
}

// RFC 5321: 5yz is final, except 503 (bad sequence: a session problem, not the message); 4yz is transient.
const permanent = (code: number | undefined) => code !== undefined && code >= 500 && code < 600 && code !== 503
const AUTH_CODES = new Set([530, 534, 535, 538])

/**
 * The SMTP failure as a rejection of the voucher (a recipient or the message refused for good) or as a
 * ConnectorError (connection lost, timed out, 4xx: retryable; login refused: auth_failed; sender or TLS set up
 * wrong: permanent). Every text passes through `mask`, which removes the password.
 */
export function classifySmtpError(err: unknown, mask: (s: string) => string): ConnectorError | Extract<VoucherExportResult, { status: 'rejected' }> {
  const e = (err ?? {}) as SmtpFailure & { message?: string }
  const reply = mask((e.response ?? e.message ?? String(err)).trim())
  const vendorCode = e.responseCode ? String(e.responseCode) : e.code
  const fail = (kind: ConstructorParameters<typeof ConnectorError>[0], message: string) => new ConnectorError(kind, mask(message), { vendorCode })

  if (e.code === 'EAUTH' || e.code === 'ENOAUTH' || AUTH_CODES.has(e.responseCode ?? 0)) {
    if (e.responseCode !== undefined && e.responseCode < 500) return fail('retryable', `the SMTP server could not check the login now: ${reply}`)
    return fail('auth_failed', `the SMTP server refused the login: ${reply}`)
  }
  if (e.responseCode === 421) return fail('retryable', `the SMTP server closed the session: ${reply}`)
  if (e.code === 'ETLS') return fail('permanent', `the TLS handshake with the SMTP server failed (check the port and the secure setting): ${reply}`)
  if (e.command === 'RCPT TO' && e.rejectedErrors?.length) {
    // Every recipient was refused; if one was only deferred (4xx) the same message may pass later.
    if (e.rejectedErrors.every((r) => permanent(r.responseCode))) {
      const which = e.rejectedErrors.map((r) => mask(`${r.recipient ?? '?'}: ${(r.response ?? '').trim()}`)).join('; ')
      return { status: 'rejected', reason: 'invalid', code: `smtp_${e.rejectedErrors[0]!.responseCode}`, message: `the mail server refused every recipient: ${which}` }
    }
    return fail('retryable', `the SMTP server deferred the recipients: ${reply}`)
  }
  if (permanent(e.responseCode)) {
    if (e.command === 'MAIL FROM') return fail('permanent', `the SMTP server refused the sender address (check "from"): ${reply}`)
    return { status: 'rejected', reason: 'invalid', code: `smtp_${e.responseCode}`, message: `the mail server refused the voucher email: ${reply}` }
  }
  return fail('retryable', `the voucher email could not be sent (${e.code ?? 'error'}): ${reply}`)
}

export async function emailVoucher(ctx: ConnectorContext<MailConfig>, voucher: VoucherDocument, mail: { attachments: VoucherAttachment[]; layout: string }): Promise<VoucherExportResult> {
  const { attachments } = mail
  const config = ctx.config
  const mask = createRedactor(config.password ? [config.password] : []).text
  const messageId = voucherMessageId(voucher.reference)
  const transport = transportFor(config)
  const abort = () => transport.close()
  ctx.signal?.addEventListener('abort', abort, { once: true })
  try {
    const info = await transport.sendMail({
      from: { name: 'Tillbridge 记账凭证', address: config.from },
      to: config.recipients,
      subject: voucherSubject(voucher),
      text: voucherBody(voucher, attachments),
      messageId,
      date: ctx.now(),
      // A correction threads under the voucher it corrects in the recipients' mailboxes.
      ...(voucher.corrects ? { references: voucherMessageId(voucher.corrects), inReplyTo: voucherMessageId(voucher.corrects) } : {}),
      headers: { 'X-Tillbridge-Voucher': voucher.reference, 'X-Tillbridge-Layout': mail.layout },
      attachments: attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })),
    })
    const rejected = (info.rejectedErrors ?? []).map((r) => ({ recipient: r.recipient ?? null, reply: mask((r.response ?? r.message).trim()) }))
    return {
      status: 'exported',
      externalId: messageId,
      number: null,
      details: {
        accepted: info.accepted,
        ...(rejected.length ? { rejected } : {}),
        files: attachments.map((a) => a.filename),
        response: mask(info.response),
        ...(info.serverMessageId && info.serverMessageId !== messageId ? { serverMessageId: info.serverMessageId } : {}),
      },
    }
  } catch (err) {
    if (ctx.signal?.aborted) throw ctx.signal.reason
    const outcome = classifySmtpError(err, mask)
    if (outcome instanceof ConnectorError) throw outcome
    return outcome
  } finally {
    ctx.signal?.removeEventListener('abort', abort)
    transport.close()
  }
}
