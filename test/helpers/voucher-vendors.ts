// Accounting vendors for voucher export tests: their sandboxes on msw, a merchant with one store-day of sales, and
// connections to every accounting vendor created through the HTTP API.
import { afterAll, beforeAll, expect } from 'vitest'
import { randomUUID } from 'node:crypto'
import { setupServer } from 'msw/node'
import type { TestHub } from './db.ts'
import { createApi, seedMerchant } from './api.ts'
import { seedProduct, seedStore, setSettings } from './pos.ts'
import { parseSettings } from '../../src/core/merchants/settings.ts'
import { kingdeeSandbox } from '../../src/sandboxes/vendors/kingdee.ts'
import { yonyouSandbox } from '../../src/sandboxes/vendors/yonyou.ts'
import { quickbooksSandbox } from '../../src/sandboxes/vendors/quickbooks.ts'
import { xeroSandbox } from '../../src/sandboxes/vendors/xero.ts'

export const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
export const DAY = '2026-11-21'

const QBO = { clientId: 'ABVendorsClient000000000000000000000000000', clientSecret: 'qbo-vx-secret-00000000000000000', realmId: '9130357992218999' }
const XERO = { clientId: '91E5715B1199038080D6D0296EBC9999', clientSecret: 'xero-vx-secret-Qm3Rt8Vw1Yz6Bc0Df5', tenantId: '3c0b4a8e-6f12-4d7b-9a51-2e8f0c6d9999' }
const KD = { serverUrl: 'https://kd.vendors.test', acctId: '6523f1a4b0e8vx', username: 'tb-api', password: 'Kd!vx-pass' }

export function useVendors(hub: TestHub) {
  const kd = kingdeeSandbox({ serverUrl: KD.serverUrl, acctId: KD.acctId, username: KD.username, password: KD.password })
  const u8 = yonyouSandbox({ eaiUrl: 'http://u8.vendors.test/U8EAI/import.asp', senders: ['TBVX'], operators: ['demo'] })
  const qbo = quickbooksSandbox({ ...QBO, refreshToken: 'AB11800000000vendorsrefresh000000000000000001', baseUrl: 'https://qbo.vendors.test', tokenUrl: 'https://oauth.vendors.test/oauth2/v1/tokens/bearer', homeCurrency: 'CNY', rotatedGraceSeconds: 3600 })
  const xero = xeroSandbox({ ...XERO, refreshToken: 'vx-xero-refresh-6a4f0c2e9b1d8f7a3c5e0b2d4f6a8c1e', baseUrl: 'https://xero.vendors.test', tokenUrl: 'https://identity.vendors.test/connect/token', baseCurrency: 'CNY', perMinute: 10_000, perDay: 1_000_000, concurrent: 50 })
  const server = setupServer(...kd.handlers, ...u8.handlers, ...qbo.handlers, ...xero.handlers)
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())
  const storeCat = xero.addTrackingCategory('Store', [])
  const knownAccounts = new Set<string>()

  function registerAccount(code: string, name: string) {
    if (knownAccounts.has(code)) return
    knownAccounts.add(code)
    kd.addAccount(code, name)
    u8.addAccount(code, name)
    const qType = code === '1001' || code.startsWith('1012') ? 'Bank' : code.startsWith('1') ? 'Other Current Asset' : code.startsWith('2') ? 'Other Current Liability' : code === '6001' ? 'Income' : code.startsWith('64') ? 'Cost of Goods Sold' : 'Expense'
    qbo.addAccount({ name: `${code} ${name}`, acctNum: code, type: qType })
    const xType = code === '1405' ? 'INVENTORY' : code.startsWith('1012') ? 'BANK' : code.startsWith('1') ? 'CURRENT' : code.startsWith('2') ? 'CURRLIAB' : code === '6001' ? 'REVENUE' : code.startsWith('64') ? 'DIRECTCOSTS' : 'EXPENSE'
    xero.addAccount({ code, name, type: xType })
  }
  function registerStore(code: string) {
    kd.addDimensionValue('FFLEX5', code)
    u8.addDimensionValue('dept_id', code)
    qbo.addDepartment(code)
    storeCat.Options.push({ TrackingOptionID: randomUUID(), Name: code, Status: 'ACTIVE' })
  }

  const configs = {
    kingdee: () => ({ ...KD, accountBook: '001' }),
    'yonyou-u8': () => ({ eaiUrl: 'http://u8.vendors.test/U8EAI/import.asp', sender: 'TBVX', enter: 'demo' }),
    quickbooks: () => ({ ...QBO, refreshToken: qbo.currentRefreshToken(), environment: 'sandbox', baseUrl: 'https://qbo.vendors.test', tokenUrl: 'https://oauth.vendors.test/oauth2/v1/tokens/bearer' }),
    xero: () => ({ ...XERO, refreshToken: xero.currentRefreshToken(), baseUrl: 'https://xero.vendors.test', tokenUrl: 'https://identity.vendors.test/connect/token' }),
  }
  type Vendor = keyof typeof configs

  /** A merchant with a store-day of sales on DAY, the vendors knowing its accounts and store. */
  async function day(o: { correction?: 'reversal' | 'difference'; sales?: { kind: string; amount: number }[][]; price?: number } = {}) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, ...(o.correction ? { correction: o.correction } : {}) } })
    const code = `Z${String(Date.now() % 1_000_000)}${Math.floor(Math.random() * 100)}`
    const store = await seedStore(hub, m.merchantId, { code, openSession: false })
    const item = await seedProduct(hub, store, { price: o.price ?? 1130, cost: 600, stock: 1000 })
    registerStore(code)
    hub.setNow(at(`${DAY} 09:00:00`))
    let admin = createApi(hub).as(await m.adminTokenNow())
    try {
      expect((await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })).status).toBe(201)
      for (const tenders of o.sales ?? [[{ kind: 'wechat', amount: o.price ?? 1130 }], [{ kind: 'alipay', amount: o.price ?? 1130 }]]) {
        const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
      }
    } finally {
      hub.setNow(undefined)
    }
    admin = createApi(hub).as(m.adminToken)
    const mappings = (await admin.get('/api/v1/vouchers/mappings')).body.items as { code: string; name: string }[]
    for (const a of mappings) if (a.code) registerAccount(a.code, a.name)
    const connect = async (vendor: Vendor, over: Record<string, unknown> = {}) => {
      const r = await admin.post('/api/v1/connections', { connectorId: vendor, name: `${vendor} ${randomUUID().slice(0, 6)}`, config: { ...configs[vendor](), ...over } })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      return r.body.id as string
    }
    const build = async () => {
      const r = await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body
    }
    const lateSale = async (tenders: { kind: string; amount: number }[] = [{ kind: 'wechat', amount: o.price ?? 1130 }], quantity = 1) => {
      const id = randomUUID()
      const r = await admin.post('/api/v1/sales/batch', { sales: [{ id, occurredAt: at(`${DAY} 15:00:00`).toISOString(), registerId: store.registerId, lines: [{ sku: item.sku, quantity }], tenders }] })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
      return id
    }
    const exportTo = (voucherId: string, connectionId: string, queue?: boolean) => admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId, ...(queue ? { queue } : {}) })
    return { m, store, item, admin, code, connect, build, lateSale, exportTo }
  }

  return { kd, u8, qbo, xero, day, registerAccount }
}
