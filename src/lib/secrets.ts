// Encrypts secrets at rest (connector credentials, webhook secrets) with AES-256-GCM, and keys MACs of short
// secrets that must be looked up without being readable (till PINs).
// TILLBRIDGE_SECRET_KEY holds one or more 32-byte keys (base64 or hex), comma separated: the first encrypts, all
// decrypt, so a key can be rotated by putting the new one first and re-encrypting what is stored.
//
// MACs use a key derived per purpose (HKDF-SHA256) from each key of the ring, and carry the key id: `mac` gives the
// MAC under the current key, `macs` under every key of the ring (current first), so a lookup still finds what was
// MACed before a rotation, and the holder can re-MAC it under the current key when it sees it. Once an old key is
// dropped from the ring, what is still MACed under it no longer matches and must be set again.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'

const VERSION = 'v1'

export interface SecretBox {
  /** Id (a short hash) of the key new secrets are encrypted with. */
  readonly currentKeyId: string
  encrypt(plaintext: string): string
  decrypt(sealed: string): string
  /** True when `sealed` was encrypted with a key other than the current one. */
  needsRotation(sealed: string): boolean
  /** "<key id>:<HMAC-SHA256>" of `text` under the current key's subkey for `purpose`. */
  mac(purpose: string, text: string): string
  /** The MAC of `text` under every key of the ring, the current key first. */
  macs(purpose: string, text: string): string[]
}

export class SecretKeyError extends Error {}

function parseKey(text: string): Buffer {
  const t = text.trim()
  const buf = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64')
  if (buf.length !== 32) {
    throw new SecretKeyError('TILLBRIDGE_SECRET_KEY must hold 32-byte keys, base64 or hex encoded (e.g. `openssl rand -base64 32`)')
  }
  return buf
}

const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8)

export function generateSecretKey(): string {
  return randomBytes(32).toString('base64')
}

export function createSecretBox(keyring: string): SecretBox {
  const keys = keyring.split(',').filter((k) => k.trim() !== '').map(parseKey)
  if (keys.length === 0) throw new SecretKeyError('TILLBRIDGE_SECRET_KEY holds no key')
  const byId = new Map(keys.map((k) => [keyId(k), k]))
  const current = keys[0]!
  const currentKeyId = keyId(current)

  return {
    currentKeyId,
    encrypt(plaintext) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', current, iv)
      cipher.setAAD(Buffer.from(`${VERSION}:${currentKeyId}`))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return [VERSION, currentKeyId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join(':')
    },
    decrypt(sealed) {
      const parts = sealed.split(':')
      if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretKeyError('not a sealed secret')
      const [, id, iv, tag, body] = parts as [string, string, string, string, string]
      const key = byId.get(id)
      if (!key) throw new SecretKeyError(`secret was sealed with key ${id}, which is not in TILLBRIDGE_SECRET_KEY`)
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(`${VERSION}:${id}`))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      try {
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
      } catch {
        throw new SecretKeyError('secret failed its integrity check')
      }
    },
    needsRotation(sealed) {
      return sealed.split(':')[1] !== currentKeyId
    },
    mac(purpose, text) {
      return macWith(current, purpose, text)
    },
    macs(purpose, text) {
      return keys.map((k) => macWith(k, purpose, text))
    },
  }
}

const subkeys = new Map<string, Buffer>()

function macWith(key: Buffer, purpose: string, text: string): string {
  const id = keyId(key)
  const cacheKey = `${id}:${purpose}`
  let sub = subkeys.get(cacheKey)
  if (!sub) {
    sub = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `tillbridge mac ${purpose}`, 32))
    subkeys.set(cacheKey, sub)
  }
  return `${id}:${createHmac('sha256', sub).update(text, 'utf8').digest('base64url')}`
}

/** SHA-256 hex digest, used to store high-entropy tokens (API keys, session tokens) so they can be looked up but not read. */
export const sha256Hex = (text: string | Buffer) => createHash('sha256').update(text).digest('hex')

export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const x = Buffer.isBuffer(a) ? a : Buffer.from(a)
  const y = Buffer.isBuffer(b) ? b : Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export const randomToken = (prefix: string, bytes = 32) => `${prefix}${randomBytes(bytes).toString('base64url')}`
