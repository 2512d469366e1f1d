import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { stripeSandbox } from '../../src/sandboxes/vendors/stripe.ts'

const KEY = 'sk_test_51ConnTestKey0000000000'
const WHSEC = 'whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw'

describe('connectors and connections', () => {
  const hub = useTestHub()
  const stripe = stripeSandbox({ secretKey: KEY })
  // A check can be held inside Stripe's balance read, to change the connection while it runs.
  let held: { entered: () => void; gate: Promise<void> } | null = null
  const server = setupServer(
    http.get('https://api.stripe.com/v1/balance', async () => {
      if (held) {
        held.entered()
        await held.gate
      }
      return undefined
    }),
    ...stripe.handlers,
  )
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())

  it('lists connectors with capabilities and a JSON Schema of their config, secret fields flagged', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).as(m.adminToken).get('/api/v1/connectors?family=payment')
    expect(r.status).toBe(200)
    const s = r.body.items.find((c: any) => c.id === 'stripe')
    expect(s).toMatchObject({ family: 'payment', title: 'Stripe', webhooks: true, secretFields: ['secretKey', 'webhookSecret'] })
    expect(s.configSchema.type).toBe('object')
    expect(s.configSchema.properties.secretKey).toMatchObject({ type: 'string', writeOnly: true, 'x-secret': true })
    expect(s.configSchema.properties.baseUrl['x-secret']).toBeUndefined()
    expect(s.configSchema.required).toContain('secretKey')
    expect((await createApi(hub).as(m.adminToken).get('/api/v1/connectors?family=campaign')).body.items.some((c: any) => c.id === 'stripe')).toBe(false)
  })

  it('creates, changes, tests, disables and deletes a connection, never showing its secrets', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const created = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe (online shop)', config: { secretKey: KEY, webhookSecret: WHSEC } })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ connectorId: 'stripe', family: 'payment', enabled: true, status: 'untested', secrets: { secretKey: 'set', webhookSecret: 'set' }, config: { baseUrl: 'https://api.stripe.com' } })
    expect(created.body.webhookUrl).toBe(`/webhooks/${created.body.id}`)
    const id = created.body.id

    // Sealed at rest: neither the key nor the webhook secret is readable in the row.
    const row = await hub.database.db.execute<{ config: unknown; sealed_secrets: string }>(sql`select config, sealed_secrets from connections where id = ${id}`)
    expect(JSON.stringify(row.rows[0])).not.toContain(KEY)
    expect(JSON.stringify(row.rows[0])).not.toContain(WHSEC)

    const ok = await api.post(`/api/v1/connections/${id}/test`)
    expect(ok.status).toBe(200)
    expect(ok.body.ok).toBe(true)
    expect(ok.body.message).toMatch(/test mode/)
    expect(stripe.state.requests.at(-1)).toMatchObject({ path: '/v1/balance', authorization: `Bearer ${KEY}` })
    expect(stripe.state.requests.at(-1)?.version).toMatch(/^\d{4}-\d{2}-\d{2}/)
    expect((await api.get(`/api/v1/connections/${id}`)).body.status).toBe('ok')

    // A wrong key: a clear verdict, the connection marked failing, the key nowhere in the answer.
    const wrong = 'sk_test_51WrongKey999999999999'
    const changed = await api.patch(`/api/v1/connections/${id}`, { config: { secretKey: wrong } })
    expect(changed.status).toBe(200)
    expect(changed.body).toMatchObject({ status: 'untested', secrets: { secretKey: 'set', webhookSecret: 'set' } })
    const refused = await api.post(`/api/v1/connections/${id}/test`)
    expect(refused.body.ok).toBe(false)
    expect(refused.body.message).toMatch(/refused the secret key/)
    expect(JSON.stringify(refused.body)).not.toContain(wrong)
    expect((await api.get(`/api/v1/connections/${id}`)).body.status).toBe('failing')

    // Clearing an optional secret; a required one cannot be cleared.
    expect((await api.patch(`/api/v1/connections/${id}`, { config: { webhookSecret: null } })).body.secrets.webhookSecret).toBe('unset')
    const cleared = await api.patch(`/api/v1/connections/${id}`, { config: { secretKey: null } })
    expect(cleared.status).toBe(400)
    expect(cleared.body.error.code).toBe('invalid_config')

    expect((await api.patch(`/api/v1/connections/${id}`, { enabled: false })).body.enabled).toBe(false)
    const listed = await api.get('/api/v1/connections')
    expect(listed.body.items.map((c: any) => c.id)).toEqual([id])
    expect(JSON.stringify(listed.body)).not.toContain('sk_test_')

    expect((await api.delete(`/api/v1/connections/${id}`)).status).toBe(204)
    expect((await api.get(`/api/v1/connections/${id}`)).status).toBe(404)
    expect((await api.get('/api/v1/connections')).body.items).toEqual([])

    const audit = await api.get('/api/v1/audit?entityType=connection')
    expect(audit.body.items.map((a: any) => a.action).sort()).toEqual(['connection.changed', 'connection.changed', 'connection.changed', 'connection.created', 'connection.deleted'])
    expect(JSON.stringify(audit.body)).not.toContain('sk_test_')
    expect(hub.logs.lines.join('\n')).not.toContain(KEY)
    expect(hub.logs.lines.join('\n')).not.toContain(wrong)
  })

  it('a check that ran while the config was changed checked the old one: the new config stays untested', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const c = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: KEY } })
    expect(c.status).toBe(201)
    let open!: () => void
    const inside = new Promise<void>((entered) => {
      held = { entered, gate: new Promise((r) => (open = r)) }
    })
    const check = api.post(`/api/v1/connections/${c.body.id}/test`)
    await inside
    const patched = await api.patch(`/api/v1/connections/${c.body.id}`, { config: { secretKey: 'sk_test_51WrongKey999999999999' } })
    expect([patched.status, patched.body.status]).toEqual([200, 'untested'])
    held = null
    open()
    // The old key was good, and the answer says so, but it is not the connection's verdict.
    expect((await check).body).toMatchObject({ ok: true, recorded: false })
    expect((await api.get(`/api/v1/connections/${c.body.id}`)).body.status).toBe('untested')
    // Checked again: the new key is refused, and that is recorded.
    expect((await api.post(`/api/v1/connections/${c.body.id}/test`)).body).toMatchObject({ ok: false, recorded: true })
    expect((await api.get(`/api/v1/connections/${c.body.id}`)).body.status).toBe('failing')
  })

  it('refuses a config that does not fit the connector, an unknown connector and a duplicate name', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const bad = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'S', config: { secretKey: 'pk_live_public' } })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('invalid_config')
    expect(bad.body.error.message).toContain('config.secretKey')
    expect(bad.body.error.message).not.toContain('pk_live_public')
    const unknown = await api.post('/api/v1/connections', { connectorId: 'nope', name: 'N', config: {} })
    expect(unknown.status).toBe(422)
    expect(unknown.body.error.code).toBe('unknown_connector')
    expect((await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Same', config: { secretKey: KEY } })).status).toBe(201)
    const dup = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Same', config: { secretKey: KEY } })
    expect(dup.status).toBe(409)
    expect(dup.body.error.code).toBe('connection_name_taken')
    expect((await hub.database.db.execute(sql`select 1 from connections where merchant_id = ${m.merchantId}`)).rows).toHaveLength(1)
  })

  it('every connector with a time zone in its config refuses one that is not a zone', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const zoned = (await api.get('/api/v1/connectors')).body.items.filter((c: any) => c.configSchema.properties?.timeZone)
    expect(zoned.map((c: any) => c.id)).toEqual(expect.arrayContaining(['allinpay', 'unionpay', 'mapped']))
    for (const c of zoned) {
      const r = await api.post('/api/v1/connections', { connectorId: c.id, name: `Z ${c.id}`, config: { timeZone: 'x' } })
      expect([c.id, r.status, r.body.error?.code]).toEqual([c.id, 400, 'invalid_config'])
      expect(r.body.error.message).toContain('config.timeZone')
    }
    expect((await hub.database.db.execute(sql`select 1 from connections where merchant_id = ${m.merchantId}`)).rows).toHaveLength(0)
  })

  it('never calls a vendor address that is link-local or a cloud metadata service: the check says why, nothing is sent', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    for (const siteUrl of ['https://169.254.169.254', 'https://100.100.100.200', 'https://metadata.google.internal']) {
      const conn = await api.post('/api/v1/connections', { connectorId: 'woocommerce', name: `Woo ${siteUrl}`, config: { siteUrl, consumerKey: `ck_${'a'.repeat(40)}`, consumerSecret: `cs_${'b'.repeat(40)}`, webhookSecret: 'woo-hook-secret-0001' } })
      expect(conn.status, JSON.stringify(conn.body)).toBe(201)
      const check = await api.post(`/api/v1/connections/${conn.body.id}/test`, {})
      expect(check.status).toBe(200)
      expect(check.body.ok).toBe(false)
      expect(check.body.message).toMatch(/not sent.*(link-local|metadata)/)
    }
  })

  it('keeps merchants apart and lets only those allowed manage connections', async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const created = await createApi(hub).as(a.adminToken).post('/api/v1/connections', { connectorId: 'stripe', name: 'A', config: { secretKey: KEY } })
    const other = createApi(hub).as(b.adminToken)
    expect((await other.get(`/api/v1/connections/${created.body.id}`)).status).toBe(404)
    expect((await other.patch(`/api/v1/connections/${created.body.id}`, { enabled: false })).status).toBe(404)
    expect((await other.post(`/api/v1/connections/${created.body.id}/test`)).status).toBe(404)
    expect((await other.get('/api/v1/connections')).body.items).toEqual([])
    const cashier = createApi(hub).as((await a.staff('cashier')).token)
    expect((await cashier.post('/api/v1/connections', { connectorId: 'stripe', name: 'C', config: { secretKey: KEY } })).status).toBe(403)
    expect((await cashier.get('/api/v1/connections')).status).toBe(403)
    const finance = createApi(hub).as((await a.staff('finance')).token)
    expect((await finance.get('/api/v1/connections')).body.items).toHaveLength(1)
    expect((await finance.delete(`/api/v1/connections/${created.body.id}`)).status).toBe(403)
  })

  it('shows the sync state of a connection: checkpoints, runs and bindings', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const id = (await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'S', config: { secretKey: KEY } })).body.id
    const { commitBatch, withSyncRun, bind } = await import('../../src/connectors/framework/sync-state.ts')
    const ref = { merchantId: m.merchantId, connectionId: id, stream: 'payouts' }
    await withSyncRun(hub.database.db, ref, () => new Date(), async (run) => {
      await commitBatch(hub.database.db, ref, { createdAfter: 1764547200 }, async () => run.count('stored', 2))
    })
    await bind(hub.database.db, { merchantId: m.merchantId, connectionId: id, entityType: 'store', localId: 'store-1' }, { externalId: 'acct_1' }, new Date())
    const s = await api.get(`/api/v1/connections/${id}/sync`)
    expect(s.status).toBe(200)
    expect(s.body.checkpoints).toEqual([{ stream: 'payouts', checkpoint: { createdAfter: 1764547200 }, updatedAt: expect.any(String) }])
    expect(s.body.runs).toMatchObject([{ stream: 'payouts', status: 'succeeded', counts: { stored: 2 } }])
    const bs = await api.get(`/api/v1/connections/${id}/bindings?status=pending`)
    expect(bs.body.items).toMatchObject([{ entityType: 'store', localId: 'store-1', externalId: 'acct_1', status: 'pending' }])
    expect((await api.get(`/api/v1/connections/${id}/bindings?status=weird`)).status).toBe(400)
  })
})
