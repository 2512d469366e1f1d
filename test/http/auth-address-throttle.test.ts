// Sign-ins throttled per client address, across accounts: one address guessing passwords of many accounts (password
// spraying) is held off although no account reaches its own lock; other addresses sign in as before. Behind a trusted
// proxy the address is the last X-Forwarded-For entry; otherwise the connection's own.
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp } from '../../src/http/app.ts'
import { listen } from '../../src/http/server.ts'
import { addressKey } from '../../src/http/client-address.ts'
import type { LoginPolicy } from '../../src/core/staff/auth.ts'

const policy: LoginPolicy = { slowAfter: 100, lockAfter: 100, lockMs: 60_000, delayMs: 0, maxDelayMs: 0, sessionMs: 3600_000, perAddress: { maxFailures: 4, windowMs: 60_000, lockMs: 120_000 } }

describe('sign-in throttled per client address', () => {
  const hub = useTestHub({ config: { trustProxy: true } })
  afterEach(() => hub.setNow(undefined))
  const from = (address: string) => ({ headers: { 'x-forwarded-for': `198.51.100.7, ${address}` } })

  it('failures on many accounts from one address hold that address off, the right password too; other addresses are not', async () => {
    const m = await seedMerchant(hub)
    const staff = await Promise.all([m.staff('cashier'), m.staff('manager')])
    const api = createApi(hub, { loginPolicy: policy })
    const t0 = new Date('2026-12-01T08:00:00Z').getTime()
    hub.setNow(new Date(t0))
    const attempts = [m.adminEmail, staff[0].email, staff[1].email, 'nobody@example.com']
    const statuses = []
    for (const email of attempts) statuses.push((await api.post('/api/v1/auth/login', { email, password: 'spring2026!' }, from('203.0.113.9'))).status)
    expect(statuses).toEqual([401, 401, 401, 401])
    const held = await api.post('/api/v1/auth/login', { email: m.adminEmail, password: m.password }, from('203.0.113.9'))
    expect([held.status, held.body.error.code, held.headers.get('retry-after')]).toEqual([429, 'login_throttled', '120'])
    // Another address signs in; the accounts themselves were never locked.
    expect((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: m.password }, from('203.0.113.10'))).status).toBe(200)
    // Only the proxy's own entry counts: a client writing its own X-Forwarded-For start does not get round it.
    expect((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: m.password }, { headers: { 'x-forwarded-for': '10.0.0.1, 203.0.113.9' } })).status).toBe(429)
    // The lock runs out.
    hub.setNow(new Date(t0 + 121_000))
    expect((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: m.password }, from('203.0.113.9'))).status).toBe(200)
  })

  it('a success in between does not reset the count; failures a quiet window apart do not add up', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub, { loginPolicy: policy })
    const t0 = new Date('2026-12-01T09:00:00Z').getTime()
    const at = async (seconds: number, password: string) => {
      hub.setNow(new Date(t0 + seconds * 1000))
      return (await api.post('/api/v1/auth/login', { email: m.adminEmail, password }, from('2001:db8:5:7::1'))).status
    }
    // Each 61 s after the one before: the window never fills.
    expect([await at(0, 'x'), await at(61, 'x'), await at(122, 'x'), await at(183, 'x'), await at(244, 'x')]).toEqual([401, 401, 401, 401, 401])
    // Quick failures with the right password between them: the fourth locks (the /64 is one address).
    const quick = [await at(300, 'x'), await at(301, m.password), await at(302, 'x'), await at(303, 'x')]
    hub.setNow(new Date(t0 + 304_000))
    const sameNet = await api.post('/api/v1/auth/login', { email: m.adminEmail, password: 'x' }, from('2001:db8:5:7:ffff::2'))
    expect([...quick, sameNet.status]).toEqual([401, 200, 401, 401, 429])
  })

  it('the dashboard sign-in is held off the same way, saying why', async () => {
    const m = await seedMerchant(hub)
    const web = formClient(createApp(hub, { loginPolicy: policy }))
    const api = createApi(hub, { loginPolicy: policy })
    for (let i = 0; i < 4; i++) await api.post('/api/v1/auth/login', { email: `guess-${i}@example.com`, password: 'x' }, from('192.0.2.44'))
    const page = await web.get('/dashboard/login')
    const r = await web.post('/dashboard/login', { _login: web.hidden(page.text, '_login')!, next: '/dashboard', email: m.adminEmail, password: m.password }, { 'x-forwarded-for': '192.0.2.44' })
    expect(r.status).toBe(429)
    expect(r.text).toContain('from this address')
  })

  it('an address is keyed as throttling counts it', () => {
    expect(['192.0.2.1', '::ffff:192.0.2.1', '2001:db8:0:1::5', '2001:DB8:0:1::0:5', '[2001:db8:0:1:0:0:0:5]', 'fe80::1%eth0', 'unknown'].map(addressKey)).toEqual([
      '192.0.2.1',
      '192.0.2.1',
      '2001:db8:0:1::/64',
      '2001:db8:0:1::/64',
      '2001:db8:0:1::/64',
      'fe80:0:0:0::/64',
      null,
    ])
    // A proxy that writes the client's port too (Azure's gateways do): the address is the same client.
    expect(['192.0.2.1:51234', '[2001:db8:0:1::5]:443', ' 192.0.2.1 ', '192.0.2.1:port'].map(addressKey)).toEqual(['192.0.2.1', '2001:db8:0:1::/64', '192.0.2.1', null])
  })
})

describe('sign-in throttled per connection address without a trusted proxy', () => {
  const hub = useTestHub()

  it('counts the connection’s own address and ignores X-Forwarded-For', async () => {
    const m = await seedMerchant(hub)
    const server = await listen(createApp(hub, { loginPolicy: policy }), { port: 0, host: '127.0.0.1' })
    try {
      const post = async (email: string, password: string, forwarded: string) =>
        (await fetch(`http://127.0.0.1:${server.port}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwarded }, body: JSON.stringify({ email, password }) })).status
      const statuses = []
      for (let i = 0; i < 4; i++) statuses.push(await post(`guess-${i}@example.com`, 'x', `203.0.113.${i}`))
      statuses.push(await post(m.adminEmail, m.password, '203.0.113.99'))
      expect(statuses).toEqual([401, 401, 401, 401, 429])
    } finally {
      await server.close(1000)
    }
  })
})
