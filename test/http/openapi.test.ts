import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'

describe('OpenAPI document and reference page', () => {
  const hub = useTestHub()

  it('describes the API from the same zod schemas that validate it', async () => {
    const r = await createApi(hub).get('/openapi.json')
    expect(r.status).toBe(200)
    const doc = r.body
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    const login = doc.paths['/api/v1/auth/login'].post
    expect(login.security).toEqual([])
    expect(login.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['email', 'password']))
    const createUser = doc.paths['/api/v1/users'].post
    expect(createUser['x-permission']).toBe('staff.manage')
    expect(createUser.security).toEqual([{ bearerAuth: [] }])
    expect(Object.keys(createUser.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403', '409', '422']))
    expect(doc.components.schemas.Error).toBeDefined()
    // A route open to either of two permissions says so, once: in its x-permission and its description.
    const vouchers = doc.paths['/api/v1/vouchers'].get
    expect(vouchers['x-permission']).toEqual(['finance.export', 'reports.read'])
    expect(vouchers.description).toMatch(/^Needs permission `finance.export` \(.*\) or `reports.read` \(.*\)\.$/)
    expect(vouchers.description).not.toContain('Any signed-in caller')
    // Every route with an id in its path may answer 404; every API route with a body 413 and 415 (the inbound
    // webhook route takes whatever the vendor sends).
    for (const [path, methods] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(methods)) {
        const codes = Object.keys(op.responses)
        if (path.includes('{')) expect(codes, `${method} ${path}`).toContain('404')
        if (op.requestBody && path.startsWith('/api/')) expect(codes, `${method} ${path}`).toEqual(expect.arrayContaining(['413', '415']))
      }
    }
    expect(Object.keys(doc.paths['/api/v1/sales/{id}'].get.responses)).toContain('404')
    expect(Object.keys(doc.paths['/api/v1/catalog/import'].post.responses)).toEqual(expect.arrayContaining(['413', '415']))
  })

  it('serves a readable reference page without any external script', async () => {
    const r = await createApi(hub).get('/docs')
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toContain('text/html')
    expect(r.body).toContain('/api/v1/users')
    expect(r.body).toContain('staff.manage')
    expect(r.body).not.toMatch(/<script[^>]+src=/)
  })
})
