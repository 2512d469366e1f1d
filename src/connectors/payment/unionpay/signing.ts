// UnionPay 全渠道 5.1.0 signatures with signMethod 01 (RSA certificate): the fields but `signature`, sorted by name and
// joined as k=v&…, are hashed to a lower-case SHA-256 hex string, and that hex text is what is RSA-SHA256 signed.
// Answers are key=value pairs joined by & and NOT percent-encoded (the SDKs split them as they are): base64 values
// keep their + / and =, so a URL decoder would corrupt them.
import { createHash, createPrivateKey, createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto'
import { readsRsaKey } from '../rsa-keys.ts'

export const isPrivateKeyPem = readsRsaKey(createPrivateKey)

export const isPublicKeyPem = readsRsaKey(createPublicKey)

/** The text that is hashed: every non-empty field but `signature`, sorted by name. */
export function signingString(fields: Record<string, string>): string {
  return Object.keys(fields)
    .filter((k) => k !== 'signature' && fields[k] !== '' && fields[k] !== undefined)
    .sort()
    .map((k) => `${k}=${fields[k]}`)
    .join('&')
}

const digestHex = (fields: Record<string, string>) => createHash('sha256').update(signingString(fields), 'utf8').digest('hex')

/** The base64 `signature` of `fields` (signMethod 01, version 5.1.0). */
export function signFields(fields: Record<string, string>, key: KeyObject | string): string {
  return createSign('RSA-SHA256').update(digestHex(fields), 'utf8').sign(key, 'base64')
}

export function verifyFields(fields: Record<string, string>, key: KeyObject | string): boolean {
  return verifyDigest(digestHex(fields), fields.signature, key)
}

/** Whether `signature` (base64) is the RSA-SHA256 signature of the signing string's SHA-256 hex text. */
export function verifyDigest(hex: string, signature: string | undefined, key: KeyObject | string): boolean {
  if (!signature) return false
  try {
    return createVerify('RSA-SHA256').update(hex, 'utf8').verify(key, signature, 'base64')
  } catch {
    return false
  }
}

/** Reads an answer `k=v&k=v` as the SDKs do: split at each &, the name ending at the first =, nothing decoded. */
export function parseAnswer(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of text.trim().split('&')) {
    if (!pair) continue
    const eq = pair.indexOf('=')
    if (eq <= 0) continue
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

/** Writes fields the way the gateway answers (the inverse of parseAnswer). */
export const formatAnswer = (fields: Record<string, string>): string =>
  Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join('&')

/** yyyyMMddHHmmss in Beijing time (txnTime). */
export function beijingTxnTime(at: Date): string {
  return new Date(at.getTime() + 8 * 3600_000).toISOString().replace(/[-:T]/g, '').slice(0, 14)
}
