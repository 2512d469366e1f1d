import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('one error shape for every bad request', () => {
  const hub = useTestHub()

  const expectErrorShape = (body: any, code: string) => {
    expect(body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) })
  }

  it('unknown routes are 404 in the error shape', async () => {
    const api = createApi(hub)
    const r = await api.get('/api/v1/no-such-thing')
    expect(r.status).toBe(404)
    expectErrorShape(r.body, 'not_found')
  })

  it('malformed JSON is 400 invalid_json', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).post('/api/v1/users', undefined, { token: m.adminToken, raw: '{"email": ', headers: { 'content-type': 'application/json' } })
    expect(r.status).toBe(400)
    expectErrorShape(r.body, 'invalid_json')
  })

  it('wrong types are 400 validation_failed with every issue listed', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).as(m.adminToken).post('/api/v1/users', { email: 42, role: 'owner', password: 'x', extra: true })
    expect(r.status).toBe(400)
    expectErrorShape(r.body, 'validation_failed')
    const paths = r.body.error.details.issues.map((i: any) => i.path)
    expect(paths).toEqual(expect.arrayContaining(['json.email', 'json.role']))
  })

  it('text PostgreSQL cannot store (a NUL, half a surrogate pair) is 400 invalid_value, with nothing written', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 100, stock: 5 })
    const api = createApi(hub).as(m.adminToken)
    for (const text of ['a\u0000b', 'x\ud800']) {
      const receipt = await api.post('/api/v1/stock/receipts', { locationId: store.locationId, reference: text, lines: [{ sku: item.sku, quantity: 1 }] })
      expect(receipt.status, JSON.stringify(receipt.body)).toBe(400)
      expectErrorShape(receipt.body, 'invalid_value')
      const adjust = await api.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: item.sku, quantity: 1, reason: 'other', note: text }] })
      expect(adjust.status, JSON.stringify(adjust.body)).toBe(400)
    }
    expect((await api.get(`/api/v1/stock/levels?variantId=${item.variantId}`)).body.items[0].onHand).toBe(5)
  })

  it('a body that is not JSON at all is 415', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).post('/api/v1/users', undefined, { token: m.adminToken, raw: 'email=a', headers: { 'content-type': 'text/plain' } })
    expect(r.status).toBe(415)
    expectErrorShape(r.body, 'unsupported_media_type')
    expect(r.body.error.message).toContain('application/json')
  })

  it('an oversized body is 413 and nothing is written', async () => {
    const m = await seedMerchant(hub)
    const big = JSON.stringify({ email: 'big@example.com', role: 'cashier', password: 'long-enough', name: 'x'.repeat(1_100_000) })
    const r = await createApi(hub).post('/api/v1/users', undefined, { token: m.adminToken, raw: big, headers: { 'content-type': 'application/json' } })
    expect(r.status).toBe(413)
    expectErrorShape(r.body, 'payload_too_large')
    const list = await createApi(hub).as(m.adminToken).get('/api/v1/users')
    expect(list.body.items.map((u: any) => u.email)).not.toContain('big@example.com')
  })

  it('a bad path parameter is 400, not a database error', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).as(m.adminToken).get('/api/v1/users/not-a-uuid')
    expect(r.status).toBe(400)
    expectErrorShape(r.body, 'validation_failed')
  })

  it('every response carries a request id, and a sane incoming one is kept', async () => {
    const api = createApi(hub)
    const r1 = await api.get('/api/v1/me')
    expect(r1.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const r2 = await api.get('/api/v1/me', { headers: { 'x-request-id': 'till-42-abcdef' } })
    expect(r2.headers.get('x-request-id')).toBe('till-42-abcdef')
    const r3 = await api.get('/api/v1/me', { headers: { 'x-request-id': 'bad id with spaces' } })
    expect(r3.headers.get('x-request-id')).not.toBe('bad id with spaces')
    expect(hub.logs.text).toContain('"requestId":"till-42-abcdef"')
  })
})
