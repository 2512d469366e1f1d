// The configuration of a Twilio Messaging connection: the account and its Auth Token (which also signs Twilio's
// webhooks), the sender, and the public URL Twilio calls back, since the signature covers the full URL.
import { z } from 'zod'
import { secret } from '../../framework/define.ts'

export const TWILIO_API = 'https://api.twilio.com'

export const TwilioConfig = z
  .object({
    accountSid: z.string().trim().regex(/^AC[0-9a-f]{32}$/, 'an Account SID is AC followed by 32 hexadecimal digits'),
    authToken: secret(z.string().trim().regex(/^[0-9a-f]{32}$/, 'an Auth Token is 32 hexadecimal digits')).describe('Authenticates our calls and signs Twilio’s webhooks'),
    from: z
      .string()
      .trim()
      .regex(/^(\+[1-9]\d{6,14}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$/, 'a From is an E.164 number of the account or an alphanumeric sender ID (up to 11 characters)')
      .optional(),
    messagingServiceSid: z
      .string()
      .trim()
      .regex(/^MG[0-9a-f]{32}$/, 'a Messaging Service SID is MG followed by 32 hexadecimal digits')
      .optional()
      .describe('Sends through the service’s sender pool (and its Advanced Opt-Out) instead of one From number'),
    webhookBaseUrl: z
      .url()
      .transform((u) => u.replace(/\/+$/, ''))
      .describe('This hub’s public base URL as Twilio reaches it (https://hub.example.com); Twilio signs the full URL it calls'),
    statusCallbackUrl: z.url().optional().describe('Where delivery statuses go; default {webhookBaseUrl}/webhooks/{connectionId}'),
    maxPerSecond: z.int().min(1).max(1000).default(10).describe('Messages per second: the sender’s throughput (MPS) bought from Twilio'),
    baseUrl: z.url().default(TWILIO_API).describe('Only changed for a sandbox'),
  })
  .refine((c) => c.from || c.messagingServiceSid, { path: ['from'], message: 'give a From number (or sender ID) or a Messaging Service SID' })

export type TwilioConfig = z.infer<typeof TwilioConfig>
