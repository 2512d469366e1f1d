// TOP request signing (https://open.taobao.com/doc.htm?docId=101617, "API调用方法详解"): every parameter but `sign`
// and the empty ones, sorted by name in ASCII order, concatenated as name+value without separators, then hashed
// with the app secret: md5 wraps the text in the secret, hmac and hmac-sha256 key the HMAC with it. Upper-case hex.
import { createHash, createHmac } from 'node:crypto'

export const SIGN_METHODS = ['md5', 'hmac', 'hmac-sha256'] as const
export type SignMethod = (typeof SIGN_METHODS)[number]

/** The text a signature covers: `bar2foo1foo_bar3foobar4` for { foo: 1, bar: 2, foo_bar: 3, foobar: 4 }. */
export function signContent(params: Record<string, string | undefined>): string {
  return Object.keys(params)
    .filter((k) => k !== 'sign' && params[k] !== undefined && params[k] !== '')
    .sort()
    .map((k) => `${k}${params[k]}`)
    .join('')
}

export function topSign(params: Record<string, string | undefined>, appSecret: string, method: SignMethod): string {
  const content = signContent(params)
  const digest =
    method === 'md5'
      ? createHash('md5').update(`${appSecret}${content}${appSecret}`, 'utf8').digest('hex')
      : createHmac(method === 'hmac' ? 'md5' : 'sha256', Buffer.from(appSecret, 'utf8')).update(content, 'utf8').digest('hex')
  return digest.toUpperCase()
}

const GMT8_MS = 8 * 3600_000

/** `yyyy-MM-dd HH:mm:ss` in GMT+8, as TOP wants `timestamp` and the trade time filters. China keeps UTC+8 all year. */
export function gmt8(at: Date): string {
  return new Date(at.getTime() + GMT8_MS).toISOString().slice(0, 19).replace('T', ' ')
}

/** A TOP time (`yyyy-MM-dd HH:mm:ss`, GMT+8) as an instant; null when it is not one. */
export function parseGmt8(text: unknown): Date | null {
  if (typeof text !== 'string' || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(text)) return null
  const ms = Date.parse(`${text.replace(' ', 'T')}+08:00`)
  return Number.isNaN(ms) ? null : new Date(ms)
}
