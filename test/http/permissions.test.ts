import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { PERMISSIONS } from '../../src/core/staff/permissions.ts'

describe('every route is guarded', () => {
  const hub = useTestHub()

  it('every /api/v1 route declares who may call it and is in the OpenAPI document', async () => {
    const api = createApi(hub)
    const doc = (await api.get('/openapi.json')).body
    const routes = api.app.routes.filter((r) => r.path.startsWith('/api/v1') && r.method !== 'ALL')
    expect(routes.length).toBeGreaterThan(5)
    const undeclared: string[] = []
    for (const r of routes) {
      const path = r.path.replace(/:([^/]+)/g, '{$1}')
      const op = doc.paths?.[path]?.[r.method.toLowerCase()]
      const access = op?.['x-permission']
      const declared = access === 'public' || access === 'authenticated' || (typeof access === 'string' ? access in PERMISSIONS : Array.isArray(access) && access.length > 0 && access.every((p: string) => p in PERMISSIONS))
      if (!declared) undeclared.push(`${r.method} ${r.path}`)
    }
    expect(undeclared).toEqual([])
  })

  it('without credentials every non-public route answers 401 in the error shape', async () => {
    const api = createApi(hub)
    const doc = (await api.get('/openapi.json')).body
    const probes: [string, string][] = []
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        if (op['x-permission'] === 'public') continue
        probes.push([method.toUpperCase(), path.replace(/\{[^}]+\}/g, '01890a5d-ac96-774b-bcce-b302099a8057')])
      }
    }
    for (const [method, path] of probes) {
      const r = await api.request(method, path, method === 'GET' || method === 'DELETE' ? undefined : {})
      expect({ method, path, status: r.status, code: r.body?.error?.code }).toEqual({ method, path, status: 401, code: 'unauthenticated' })
    }
  })

  it('a garbage or foreign-format token is 401', async () => {
    const api = createApi(hub)
    for (const token of ['tbs_nope', 'tbk_nope', 'eyJhbGciOi.x.y']) {
      const r = await api.as(token).get('/api/v1/me')
      expect(r.status).toBe(401)
      expect(r.body.error.code).toBe('invalid_token')
    }
    const basic = await api.get('/api/v1/me', { headers: { authorization: 'Basic YTpi' } })
    expect(basic.status).toBe(401)
  })

  it('the wrong role is 403 and nothing happens', async () => {
    const m = await seedMerchant(hub)
    const cashier = await m.staff('cashier')
    const finance = await m.staff('finance')
    const api = createApi(hub)
    const r = await api.as(cashier.token).post('/api/v1/users', { email: 'sneaky@example.com', role: 'admin', password: 'long-enough' })
    expect(r.status).toBe(403)
    expect(r.body.error).toMatchObject({ code: 'permission_denied', details: { permission: 'staff.manage', role: 'cashier' } })
    expect((await api.as(cashier.token).get('/api/v1/audit')).status).toBe(403)
    expect((await api.as(finance.token).get('/api/v1/audit')).status).toBe(200)
    expect((await api.as(finance.token).post('/api/v1/api-keys', { name: 'x', role: 'admin' })).status).toBe(403)
    const users = await api.as(m.adminToken).get('/api/v1/users?limit=200')
    expect(users.body.items.map((u: any) => u.email)).not.toContain('sneaky@example.com')
  })

  it('an API key acts with its own role', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const { body } = await api.post('/api/v1/api-keys', { name: 'reporting', role: 'finance' })
    const keyApi = createApi(hub).as(body.key)
    expect((await keyApi.get('/api/v1/audit')).status).toBe(200)
    expect((await keyApi.get('/api/v1/users')).status).toBe(403)
  })
})
