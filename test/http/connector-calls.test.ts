import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http, HttpResponse } from 'msw'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { createConnectorHttp } from '../../src/connectors/framework/http.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { createConnection, loadConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'

const BASE = 'https://api.vendor.test'
const KEY = 'sk_test_51CallsRouteKey00000000000'

describe('GET /api/v1/connections/{id}/calls', () => {
  const hub = useTestHub()
  const server = setupServer(
    http.get(`${BASE}/v1/balance`, () => HttpResponse.json({ object: 'balance', livemode: false, available: [], echoed: KEY })),
    http.get(`${BASE}/v1/charges/missing`, () => HttpResponse.json({ error: { code: 'resource_missing', message: 'No such charge' } }, { status: 404 })),
  )
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())

  /** A Stripe connection of a new merchant, with `calls` successful balance reads and one failed lookup logged. */
  async function connectionWithCalls(calls: number) {
    const m = await seedMerchant(hub)
    const row = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'stripe', name: 'Stripe', config: { secretKey: KEY, baseUrl: BASE } }, new Date())
    const loaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, row.id, m.merchantId)
    const policy = typeof loaded.connector.http === 'function' ? loaded.connector.http(loaded.config) : loaded.connector.http
    const client = createConnectorHttp({ database: hub.database, logger: hub.logger, clock: hub.clock, merchantId: m.merchantId, connectionId: row.id, policy, secretValues: loaded.secretValues })
    for (let i = 0; i < calls; i++) await client.request({ method: 'GET', url: '/v1/balance', params: { sign: 'deadbeef' }, operation: 'check' })
    await expect(client.request({ method: 'GET', url: '/v1/charges/missing', operation: 'getCharge' })).rejects.toBeInstanceOf(ConnectorError)
    return { m, id: row.id }
  }

  it("pages through a connection's calls newest first, filtered by outcome, with no secret in the answer", async () => {
    const { m, id } = await connectionWithCalls(3)
    const api = createApi(hub).as(m.adminToken)
    const first = await api.get(`/api/v1/connections/${id}/calls?limit=2`)
    expect(first.status).toBe(200)
    expect(first.body.items.map((c: any) => [c.operation, c.outcome, c.statusCode])).toEqual([
      ['getCharge', 'permanent', 404],
      ['check', 'ok', 200],
    ])
    expect(first.body.items[0]).toMatchObject({ method: 'GET', attempt: 1, url: `${BASE}/v1/charges/missing` })
    expect(first.body.items[0].error).toContain('resource_missing')
    expect(first.body.nextCursor).toEqual(expect.any(String))

    const rest = await api.get(`/api/v1/connections/${id}/calls?limit=2&cursor=${first.body.nextCursor}`)
    expect(rest.body.items.map((c: any) => c.operation)).toEqual(['check', 'check'])
    expect(rest.body.nextCursor).toBeNull()

    const failed = await api.get(`/api/v1/connections/${id}/calls?outcome=permanent`)
    expect(failed.body.items.map((c: any) => c.operation)).toEqual(['getCharge'])

    const all = await api.get(`/api/v1/connections/${id}/calls`)
    expect(all.body.items).toHaveLength(4)
    const text = JSON.stringify(all.body)
    expect(text).not.toContain(KEY)
    expect(text).not.toContain('deadbeef')
    expect(all.body.items[1].url).toBe(`${BASE}/v1/balance?sign=[REDACTED]`)
    expect(hub.logs.text).not.toContain(KEY)
  })

  it("answers 404 for another merchant's connection and 403 without connections.read", async () => {
    const { m, id } = await connectionWithCalls(1)
    const other = await seedMerchant(hub)
    const foreign = await createApi(hub).as(other.adminToken).get(`/api/v1/connections/${id}/calls`)
    expect(foreign.status).toBe(404)
    expect(foreign.body.error.code).toBe('connection_not_found')
    expect(JSON.stringify(foreign.body)).not.toContain('check')

    const cashier = await m.staff('cashier')
    expect((await createApi(hub).as(cashier.token).get(`/api/v1/connections/${id}/calls`)).status).toBe(403)
    const finance = await m.staff('finance')
    expect((await createApi(hub).as(finance.token).get(`/api/v1/connections/${id}/calls`)).body.items).toHaveLength(2)
    expect((await createApi(hub).get(`/api/v1/connections/${id}/calls`)).status).toBe(401)
  })

  it('refuses malformed ids, cursors, limits and outcomes with 400', async () => {
    const { m, id } = await connectionWithCalls(0)
    const api = createApi(hub).as(m.adminToken)
    for (const path of [`/api/v1/connections/not-a-uuid/calls`, `/api/v1/connections/${id}/calls?cursor=abc`, `/api/v1/connections/${id}/calls?cursor=0`, `/api/v1/connections/${id}/calls?limit=0`, `/api/v1/connections/${id}/calls?outcome=exploded`]) {
      const r = await api.get(path)
      expect(r.status, path).toBe(400)
      expect(r.body.error.code).toBe('validation_failed')
    }
    expect((await api.get(`/api/v1/connections/00000000-0000-7000-8000-000000000000/calls`)).status).toBe(404)
  })

  it('is described in the OpenAPI document', async () => {
    const doc = await createApi(hub).get('/openapi.json')
    expect(doc.body.paths['/api/v1/connections/{id}/calls'].get['x-permission']).toBe('connections.read')
    expect(doc.body.components.schemas.ConnectorCall).toBeDefined()
  })
})
