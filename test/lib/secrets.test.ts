import { describe, expect, it } from 'vitest'
import { createSecretBox, generateSecretKey, SecretKeyError } from '../../src/lib/secrets.ts'

describe('secret box', () => {
  const key = generateSecretKey()

  it('decrypts what it encrypted, and never stores the plaintext', () => {
    const box = createSecretBox(key)
    const sealed = box.encrypt('wx-api-v3-key: 秘密')
    expect(sealed).not.toContain('秘密')
    expect(sealed.startsWith(`v1:${box.currentKeyId}:`)).toBe(true)
    expect(box.decrypt(sealed)).toBe('wx-api-v3-key: 秘密')
  })

  it('uses a fresh nonce each time, so equal secrets do not look equal at rest', () => {
    const box = createSecretBox(key)
    expect(box.encrypt('same')).not.toBe(box.encrypt('same'))
  })

  it('refuses a tampered ciphertext', () => {
    const box = createSecretBox(key)
    const parts = box.encrypt('amount=100').split(':')
    const body = Buffer.from(parts[4]!, 'base64url')
    body[0] = body[0]! ^ 1
    parts[4] = body.toString('base64url')
    expect(() => box.decrypt(parts.join(':'))).toThrow(SecretKeyError)
  })

  it('rotates keys: the new key encrypts, the old one still decrypts old secrets', () => {
    const oldBox = createSecretBox(key)
    const sealedOld = oldBox.encrypt('old secret')
    const newKey = generateSecretKey()
    const rotated = createSecretBox(`${newKey},${key}`)
    expect(rotated.decrypt(sealedOld)).toBe('old secret')
    expect(rotated.needsRotation(sealedOld)).toBe(true)
    const resealed = rotated.encrypt(rotated.decrypt(sealedOld))
    expect(rotated.needsRotation(resealed)).toBe(false)
    expect(() => createSecretBox(newKey).decrypt(sealedOld)).toThrow(/not in TILLBRIDGE_SECRET_KEY/)
  })

  it('accepts hex keys and rejects keys of the wrong size', () => {
    expect(() => createSecretBox('ab'.repeat(32))).not.toThrow()
    expect(() => createSecretBox('too-short')).toThrow(/32-byte/)
  })
})
