import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.ts'
import { redact, redactText } from '../../src/lib/redact.ts'
import { LogCapture, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'

describe('secrets never reach the logs', () => {
  it('redacts secret-looking fields at any depth and credentials inside messages', () => {
    const out = new LogCapture()
    const log = createLogger({ level: 'info', destination: out })
    log.info(
      {
        headers: { Authorization: 'Bearer tbs_abcdefghijklmnopqrstuvwxyz', 'X-Api-Key': 'k-123' },
        connection: { config: { appId: 'wx123', apiV3Key: 'SECRET-V3', private_key: '-----BEGIN' }, clientSecret: 'cs-1' },
        user: { password: 'hunter2', email: 'a@b.c' },
        list: [{ token: 'tok-1' }],
      },
      'called https://api.example.com/pay?sign=ABCDEF&access_token=xyz with key tbk_abcdefghijklmnopqrstuvwxyz',
    )
    log.error({ err: new Error('connect to postgres://tb:pw-secret@db/x failed') }, 'db down')
    const text = out.text
    for (const secret of ['tbs_abcdefghijklmnopqrstuvwxyz', 'k-123', 'SECRET-V3', '-----BEGIN', 'cs-1', 'hunter2', 'tok-1', 'ABCDEF', 'xyz', 'tbk_abcdefghijklmnopqrstuvwxyz', 'pw-secret']) {
      expect(text, secret).not.toContain(secret)
    }
    expect(text).toContain('wx123')
    expect(text).toContain('a@b.c')
  })

  it('redact() keeps what is not secret', () => {
    expect(redact({ amount: 100, memo: 'ok', apiKey: 'x' })).toEqual({ amount: 100, memo: 'ok', apiKey: '[REDACTED]' })
    expect(redactText('Basic dXNlcjpwYXNz')).toBe('Basic [REDACTED]')
  })
})

describe('a whole request cycle logs no secret', () => {
  const hub = useTestHub()

  it('login, key creation and use leave neither password nor tokens in the logs', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub)
    const login = await api.post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })
    const key = await api.as(login.body.token).post('/api/v1/api-keys', { name: 'k', role: 'admin' })
    await api.as(key.body.key).get('/api/v1/me')
    await api.post('/api/v1/auth/login', { email: m.adminEmail, password: 'a-wrong-password' })
    const text = hub.logs.text
    expect(text).toContain('/api/v1/auth/login')
    for (const secret of [m.password, 'a-wrong-password', login.body.token, key.body.key, m.adminToken]) expect(text).not.toContain(secret)
  })
})
