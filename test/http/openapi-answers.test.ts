// The OpenAPI document lists the statuses and media types the API really answers with: clients are generated from it.
import { describe, expect, it } from 'vitest'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { createShopifyConnection } from '../helpers/channels.ts'

const ZERO = '00000000-0000-4000-8000-000000000000'
const documented = (doc: any, method: string, path: string) => Object.keys(doc.paths[path][method].responses)

describe('the OpenAPI document and the answers routes give', () => {
  const { hub } = useTestHubWithDataDir('openapi-answers')

  it('documents 401 on sign-in with a wrong password or PIN', async () => {
    const doc = (await createApi(hub).get('/openapi.json')).body
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const login = await createApi(hub).post('/api/v1/auth/login', { email: m.adminEmail, password: 'wrong-password-1' })
    expect(login.status).toBe(401)
    expect(login.body.error.code).toBe('invalid_credentials')
    const pin = await createApi(hub).post('/api/v1/auth/pin', { registerId: store.registerId, pin: '0000' })
    expect(pin.status).toBe(401)
    expect(documented(doc, 'post', '/api/v1/auth/login')).toContain('401')
    expect(documented(doc, 'post', '/api/v1/auth/pin')).toContain('401')
  })

  it('documents 404 and 422 on reads whose query names an unknown record or breaks a rule, and 503 everywhere', async () => {
    const doc = (await createApi(hub).get('/openapi.json')).body
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const cases: [string, string, number, string][] = [
      ['/api/v1/members/lookup', '', 422, 'lookup_required'],
      ['/api/v1/members/lookup', '?phone=%2B8613999999999', 404, 'member_not_found'],
      ['/api/v1/stock/levels', `?locationId=${ZERO}`, 404, 'stock_location_not_found'],
      ['/api/v1/reports/products', `?from=2026-01-01&to=2026-01-31&storeId=${ZERO}`, 404, 'store_not_found'],
      ['/api/v1/reports/products', '?from=2026-12-31&to=2026-01-01', 422, 'invalid_period'],
      ['/api/v1/reports/staff', '?from=2020-01-01&to=2026-12-31', 422, 'period_too_long'],
      ['/api/v1/timeclock/hours', '?from=2026-12-31&to=2026-01-01', 422, 'invalid_period'],
      ['/api/v1/vouchers/mappings', `?storeId=${ZERO}`, 404, 'store_not_found'],
    ]
    const undocumented: string[] = []
    for (const [path, q, status, code] of cases) {
      const r = await admin.get(path + q)
      expect(r.status, `${path}${q}`).toBe(status)
      expect(r.body.error.code).toBe(code)
      if (!documented(doc, 'get', path).includes(String(status))) undocumented.push(`GET ${path} ${status} ${code}`)
    }
    expect(undocumented).toEqual([])
    const without503 = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>).flatMap(([path, ops]) =>
      Object.entries(ops).filter(([, op]) => !op.responses['503']).map(([method]) => `${method} ${path}`),
    )
    expect(without503).toEqual([])
  })

  it('documents 502 on a live read of a marketplace that fails', async () => {
    const doc = (await createApi(hub).get('/openapi.json')).body
    const m = await seedMerchant(hub)
    const conn = await createShopifyConnection(hub, m.merchantId)
    const id = (conn as any).id ?? conn
    const r = await createApi(hub).as(m.adminToken).get(`/api/v1/stock-sync/${id}/remote-locations`)
    expect(r.status).toBe(502)
    expect(r.body.error.code).toBe('marketplace_unavailable')
    expect(documented(doc, 'get', '/api/v1/stock-sync/{connectionId}/remote-locations')).toContain('502')
  })

  it('documents a stored statement file as served in the media type it was received with', async () => {
    const doc = (await createApi(hub).get('/openapi.json')).body
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const MAPPING = { columns: { ourRef: 'ref', channelTxnId: 'txn', amount: 'amount', fee: 'fee', time: 'time', store: 'store' } }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'mapped', name: 'bank', config: MAPPING })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const csv = 'time,ref,txn,amount,fee,store\n2026-11-10 10:00:00,X-1,T1,12.34,0.07,\n'
    const up = await admin.request('POST', `/api/v1/reconciliation/statements?connectionId=${conn.body.id}&date=2026-11-10&fileName=b.csv`, undefined, { raw: csv, headers: { 'content-type': 'text/csv' } })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const file = await admin.get(`/api/v1/reconciliation/statements/${up.body.statement.id}/file`)
    expect(file.status, JSON.stringify(up.body).slice(0, 300) + JSON.stringify(file.body).slice(0, 300)).toBe(200)
    expect(file.headers.get('content-type')).toMatch(/^text\/csv/)
    expect(Object.keys(doc.paths['/api/v1/reconciliation/statements/{id}/file'].get.responses['200'].content)).toEqual(['*/*'])
    expect(Object.keys(doc.paths['/api/v1/vouchers/{id}/file'].get.responses['200'].content)).toEqual(
      expect.arrayContaining(['text/csv', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet']),
    )
  })
})
