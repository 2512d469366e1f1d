// Voucher files by email: the day's voucher as CSV and/or XLSX in a layout finance software imports (generic,
// Kingdee 云星空 引入 template, Yonyou U8 总账工具 text), sent to finance staff through the merchant's SMTP server.
// Mail has no idempotency: the Message-ID derives from the voucher reference, so a re-send reads as the same mail.
import { z } from 'zod'
import { defineConnector, secret } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { createRedactor } from '../../framework/call-log.ts'
import { KINGDEE_DEFAULT_DIMENSIONS, KINGDEE_SLOT, VoucherRenderError } from './layouts.ts'
import { classifySmtpError, emailVoucher, transportFor, voucherAttachments } from './mail.ts'
import type { VoucherRenderOptions } from './render.ts'

const dimensionKind = z.enum(['department', 'customer', 'supplier', 'employee', 'project'])

const VoucherFileConfig = z
  .object({
    smtpHost: z.string().trim().min(1).describe('SMTP server, e.g. smtp.exmail.qq.com'),
    smtpPort: z.number().int().min(1).max(65535).default(465),
    secure: z.boolean().default(true).describe('TLS from the start (port 465); false: plain, upgraded by STARTTLS when the server offers it'),
    username: z.string().min(1).optional(),
    password: secret(z.string().min(1)).optional(),
    from: z.email(),
    recipients: z.array(z.email()).min(1).max(20),
    format: z.enum(['csv', 'xlsx', 'both']).default('both'),
    encoding: z.enum(['utf8', 'gbk']).default('gbk').describe('CSV only; XLSX is always UTF-8 inside'),
    layout: z.enum(['generic', 'kingdee', 'u8']).default('generic'),
    kingdeeAccountBook: z.string().trim().min(1).optional().describe('Kingdee layout: 账簿 code (FAccountBookID)'),
    kingdeeVoucherGroup: z.string().trim().min(1).default('PRE001').describe('Kingdee layout: 凭证字 code; PRE001 is the shipped 记'),
    kingdeeDimensions: z
      .partialRecord(dimensionKind, z.string().regex(KINGDEE_SLOT, 'a Kingdee dimension slot: FFLEX4…FFLEX16 or a custom FF100001…'))
      .default(KINGDEE_DEFAULT_DIMENSIONS)
      .describe('Kingdee layout: 核算维度 slot per dimension kind'),
    kingdeeCurrency: z.string().trim().min(1).optional().describe('Kingdee layout: 币别 code when not PRE001 (CNY) or PRE007 (USD)'),
    timeoutMs: z.number().int().min(100).max(120_000).default(20_000).describe('Per SMTP step: connecting, the greeting, each reply'),
  })
  .refine((c) => c.layout !== 'kingdee' || c.kingdeeAccountBook, { path: ['kingdeeAccountBook'], message: 'the Kingdee layout needs the account book (账簿) code' })
  .refine((c) => !c.password || c.username, { path: ['username'], message: 'a password needs a username' })

type Config = z.infer<typeof VoucherFileConfig>

const renderOptions = (c: Config): VoucherRenderOptions => ({
  encoding: c.encoding,
  layout: c.layout,
  kingdee: c.kingdeeAccountBook ? { accountBook: c.kingdeeAccountBook, voucherGroup: c.kingdeeVoucherGroup, dimensions: c.kingdeeDimensions, currency: c.kingdeeCurrency } : undefined,
})

export const voucherFile = defineConnector({
  id: 'voucher-file',
  family: 'accounting',
  title: 'Voucher files by email',
  description: 'Emails the daily voucher to finance staff as CSV and Excel files laid out for import into Kingdee, Yonyou U8 or any finance software.',
  config: VoucherFileConfig,
  // No HTTP: mail leaves through nodemailer (mail.ts). The policy is only what the framework requires.
  http: { baseURL: 'http://localhost' },
  async check(ctx) {
    const c = ctx.config
    const transport = transportFor(c)
    try {
      await transport.verify()
      return { ok: true, message: `Connected to ${c.smtpHost}:${c.smtpPort}${c.username ? ` as ${c.username}` : ''}; vouchers go to ${c.recipients.join(', ')}`, details: { layout: c.layout, format: c.format } }
    } catch (err) {
      const outcome = classifySmtpError(err, createRedactor(c.password ? [c.password] : []).text)
      const kind = outcome instanceof ConnectorError ? outcome.kind : 'permanent'
      if (kind === 'auth_failed') return { ok: false, message: `${c.smtpHost} refused the username and password`, details: { kind } }
      return { ok: false, message: `${c.smtpHost}:${c.smtpPort} could not be used: ${outcome.message}`, details: { kind } }
    } finally {
      transport.close()
    }
  },
  capabilities: {
    async exportVoucher(ctx, { voucher }) {
      const render = renderOptions(ctx.config)
      let attachments
      try {
        attachments = await voucherAttachments(voucher, ctx.config.format, render)
      } catch (e) {
        if (e instanceof VoucherRenderError) return { status: 'rejected', reason: 'invalid', code: e.code, message: e.message }
        throw e
      }
      return emailVoucher(ctx, voucher, { attachments, layout: ctx.config.layout })
    },
  },
})
