// Alipay open-platform signing (RSA2 = SHA256withRSA, PKCS#1 v1.5): requests are signed over their parameters sorted
// by name, and every answer is verified over the exact text of its `<method>_response` value as it was received.
// https://opendocs.alipay.com/common/02kf5q (自行实现签名), https://opendocs.alipay.com/common/02mse7 (同步验签)
import { createPrivateKey, createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto'
import { readsRsaKey } from '../rsa-keys.ts'

/** The key of the answer to `method`: `alipay.data.dataservice.bill.downloadurl.query` → `…_query_response`. */
export const responseKey = (method: string): string => `${method.replaceAll('.', '_')}_response`
/** Where the gateway puts errors it raises before it knows the method (an unknown app_id, a missing parameter). */
export const ERROR_RESPONSE_KEY = 'error_response'

/**
 * A key as Alipay's key tool hands it out (bare base64, PKCS#8 for the private key, X.509 SPKI for the public key)
 * or as PEM. Throws without echoing the key.
 */
export function privateKeyFrom(text: string): KeyObject {
  const t = text.trim()
  if (t.startsWith('-----BEGIN')) return createPrivateKey({ key: t, format: 'pem' })
  const der = Buffer.from(t.replace(/\s+/g, ''), 'base64')
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  } catch {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs1' })
  }
}

export function publicKeyFrom(text: string): KeyObject {
  const t = text.trim()
  if (t.startsWith('-----BEGIN')) return createPublicKey({ key: t, format: 'pem' })
  const der = Buffer.from(t.replace(/\s+/g, ''), 'base64')
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' })
  } catch {
    return createPublicKey({ key: der, format: 'der', type: 'pkcs1' })
  }
}

export const isRsaPrivateKey = readsRsaKey(privateKeyFrom)

export const isRsaPublicKey = readsRsaKey(publicKeyFrom)

/** The text a request signature covers: every parameter but `sign`, empty ones left out, sorted by name, `k=v&…`, values raw. */
export function signContent(params: Record<string, string | undefined>): string {
  return Object.keys(params)
    .filter((k) => k !== 'sign' && params[k] !== undefined && params[k]!.trim() !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
}

export function rsa2Sign(content: string, key: KeyObject): string {
  return createSign('RSA-SHA256').update(content, 'utf8').sign(key, 'base64')
}

export function rsa2Verify(content: string, signature: string, key: KeyObject): boolean {
  try {
    return createVerify('RSA-SHA256').update(content, 'utf8').verify(key, signature, 'base64')
  } catch {
    return false
  }
}

/** Signs a request's parameters: returns them with `sign` added. */
export function signParams<T extends Record<string, string>>(params: T, key: KeyObject): T & { sign: string } {
  return { ...params, sign: rsa2Sign(signContent(params), key) }
}

/** `yyyy-MM-dd HH:mm:ss` in Beijing time, as the gateway wants `timestamp` (it checks it against its own clock). */
export function shanghaiTimestamp(at: Date): string {
  // China has kept UTC+8 all year since 1991, so a fixed offset is exact.
  return new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
}

/**
 * The raw text of each top-level member of a JSON object, exactly as received. The signature of an answer covers
 * these bytes, not a re-serialisation (which could differ in escapes such as `\/` or in number formatting).
 */
export function topLevelMembers(json: string): Map<string, string> {
  const out = new Map<string, string>()
  let i = 0
  const n = json.length
  const ws = () => {
    while (i < n && (json[i] === ' ' || json[i] === '\n' || json[i] === '\r' || json[i] === '\t')) i++
  }
  const fail = (what: string): never => {
    throw new SyntaxError(`not a JSON object (${what} at offset ${i})`)
  }
  const skipString = () => {
    if (json[i] !== '"') fail('expected a string')
    i++
    while (i < n && json[i] !== '"') i += json[i] === '\\' ? 2 : 1
    if (i >= n) fail('unterminated string')
    i++
  }
  const skipValue = () => {
    ws()
    const c = json[i]
    if (c === '"') return skipString()
    if (c === '{' || c === '[') {
      let depth = 0
      while (i < n) {
        const d = json[i]
        if (d === '"') {
          skipString()
          continue
        }
        if (d === '{' || d === '[') depth++
        else if (d === '}' || d === ']') {
          depth--
          if (depth === 0) {
            i++
            return
          }
        }
        i++
      }
      fail('unterminated value')
    }
    const m = /^(-?\d[\d.eE+-]*|true|false|null)/.exec(json.slice(i, i + 64))
    if (!m) fail('unexpected character')
    i += m![0].length
  }
  ws()
  if (json[i] !== '{') fail('expected {')
  i++
  ws()
  if (json[i] === '}') return out
  for (;;) {
    ws()
    const keyStart = i
    skipString()
    const key = JSON.parse(json.slice(keyStart, i)) as string
    ws()
    if (json[i] !== ':') fail('expected :')
    i++
    ws()
    const valueStart = i
    skipValue()
    out.set(key, json.slice(valueStart, i))
    ws()
    if (json[i] === ',') {
      i++
      continue
    }
    if (json[i] === '}') return out
    fail('expected , or }')
  }
}

/** What the gateway said, once its signature has been checked. */
export interface GatewayAnswer {
  /** The member that held the answer (`…_response` or `error_response`). */
  key: string
  node: { code?: string; msg?: string; sub_code?: string; sub_msg?: string; [field: string]: unknown }
  /** The answer carried a `sign` and it verified. */
  signed: boolean
}

export class ResponseSignatureError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ResponseSignatureError'
  }
}

/**
 * Opens a gateway answer: finds the `…_response` member (or `error_response`), and verifies `sign` over its exact
 * text. A success must be signed; an error may come unsigned (the gateway cannot sign for an app it does not know),
 * as the official SDKs accept, but when it carries a sign that sign must verify.
 */
export function openAnswer(text: string, alipayPublicKey: KeyObject, method?: string): GatewayAnswer {
  const members = topLevelMembers(text)
  const key =
    (method && members.has(responseKey(method)) ? responseKey(method) : undefined) ??
    [...members.keys()].find((k) => k.endsWith('_response') && k !== ERROR_RESPONSE_KEY) ??
    (members.has(ERROR_RESPONSE_KEY) ? ERROR_RESPONSE_KEY : undefined)
  if (!key) throw new SyntaxError('the answer has no …_response member')
  const raw = members.get(key)!
  const node = JSON.parse(raw) as GatewayAnswer['node']
  if (!node || typeof node !== 'object' || Array.isArray(node)) throw new SyntaxError(`${key} is not an object`)
  const signText = members.get('sign')
  const sign = signText === undefined ? undefined : (JSON.parse(signText) as unknown)
  if (typeof sign === 'string' && sign !== '') {
    if (!rsa2Verify(raw, sign, alipayPublicKey)) throw new ResponseSignatureError('the answer\'s sign does not verify with the configured Alipay public key')
    return { key, node, signed: true }
  }
  if (String(node.code) === '10000') throw new ResponseSignatureError('the answer reports success but carries no sign')
  return { key, node, signed: false }
}
