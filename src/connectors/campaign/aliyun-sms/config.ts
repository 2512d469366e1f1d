// The configuration of an Alibaba Cloud SMS connection: a RAM AccessKey pair, the default signature, which kind of
// templates it sends, and the token that authenticates Aliyun's HTTP pushes (they carry no signature).
import { z } from 'zod'
import { secret } from '../../framework/define.ts'
import { ALIYUN_SMS_ENDPOINT } from './rpc.ts'

export const AliyunSmsConfig = z.object({
  accessKeyId: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9.]{8,128}$/, 'an AccessKey ID looks like LTAI… (letters and digits)')
    .describe('AccessKey ID of a RAM user with AliyunDysmsFullAccess (or dysms:SendBatchSms and dysms:QuerySendDetails)'),
  accessKeySecret: secret(z.string().trim().min(16, 'an AccessKey secret is 30 letters and digits').regex(/^\S+$/, 'an AccessKey secret has no spaces')).describe(
    'The AccessKey secret; it signs every call and is never sent',
  ),
  signName: z.string().trim().min(2).max(24).optional().describe('The approved signature (签名) used when a campaign message names none'),
  templateScope: z
    .enum(['domestic', 'international'])
    .default('domestic')
    .describe('Domestic templates reach mainland China numbers only, international templates only the others (Aliyun does not mix them)'),
  callbackToken: secret(z.string().min(16, 'use at least 16 random characters').regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only (it travels in a URL)'))
    .optional()
    .describe('Aliyun signs no push: give the console the receipt and reply URLs as https://{hub}/webhooks/{connectionId}?token={this value}'),
  maxPerSecond: z.int().min(1).max(5000).default(500).describe('Messages per second the campaign sender keeps below (Aliyun allows 5 000 calls a second)'),
  endpoint: z.url().default(ALIYUN_SMS_ENDPOINT).describe('Only changed for a sandbox or a regional endpoint'),
})

export type AliyunSmsConfig = z.infer<typeof AliyunSmsConfig>
