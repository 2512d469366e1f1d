// A business day for the voucher dashboard's tests: a shop in Shanghai whose store opened its cash session through the
// API that morning and rang up two sales (cash, WeChat) under the hub's clock, a second store with HTML in its name,
// and a 'voucher-file' connection that mails vouchers to a local SMTP server. The day is yesterday in Shanghai, so it
// is in the dashboard's default range; no voucher is built here (the page's Build button does that).
// api.ts first: it loads the app, whose zod (with .openapi) the schemas of the core must be made with.
import { createApi, seedMerchant, type Api, type SeededMerchant } from './api.ts'
import { expect } from 'vitest'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { updateStore } from '../../src/core/stores/service.ts'
import { addDays, businessDate } from '../../src/lib/time.ts'
import type { TestHub } from './db.ts'
import { seedProduct, seedStore, type SeededStore } from './pos.ts'

export const TZ = 'Asia/Shanghai'
export const EVIL_STORE_NAME = '<script>alert("x")</script><b>Bund</b>'
export const FINANCE_MAILBOX = 'finance@tea-house.cn'
const at = (date: string, time: string) => new Date(`${date}T${time}+08:00`)

export interface VoucherDay {
  m: SeededMerchant
  api: Api
  store: SeededStore & { code: string }
  evilStore: { storeId: string; code: string }
  date: string
  /** Receipt numbers of the cash sale (2 × 12.80) and the WeChat sale (35.50). */
  receipts: { cash: string; wechat: string }
  connection: { id: string; name: string }
}

export async function seedVoucherDay(hub: TestHub, smtp: { port: number }): Promise<VoucherDay> {
  const m = await seedMerchant(hub, { timeZone: TZ, currency: 'CNY', locale: 'en' })
  const api = createApi(hub).as(m.adminToken)
  const tag = m.merchantId.slice(0, 4).toUpperCase()
  const code = `V${tag}`
  const store = await seedStore(hub, m.merchantId, { code, openSession: false })
  const evilCode = `X${tag}`
  const evil = await seedStore(hub, m.merchantId, { code: evilCode, openSession: false })
  await hub.database.db.transaction((tx) => updateStore(tx, evil.actor, evil.storeId, { name: EVIL_STORE_NAME }))
  const tea = await seedProduct(hub, store, { sku: `TEA-${tag}`, name: 'Green tea', price: 1280, cost: 600, stock: 100 })
  const cake = await seedProduct(hub, store, { sku: `CAKE-${tag}`, name: 'Mooncake', price: 3550, cost: 1500, tax: 'reduced', stock: 100 })

  const date = addDays(businessDate(new Date(), TZ), -1)
  const sell = async (time: string, body: object) => {
    hub.setNow(at(date, time))
    try {
      const r = await api.post('/api/v1/sales', { registerId: store.registerId, ...body })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      expect(r.body.businessDate).toBe(date)
      return r.body.receiptNo as string
    } finally {
      hub.setNow(undefined)
    }
  }
  // The register's cash session belongs to the day: opened that morning, through the API.
  hub.setNow(at(date, '08:00:00'))
  try {
    const opened = await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 10_000 })
    expect(opened.status, JSON.stringify(opened.body)).toBe(201)
  } finally {
    hub.setNow(undefined)
  }
  const receipts = {
    cash: await sell('10:15:00', { lines: [{ sku: tea.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 2560 }] }),
    wechat: await sell('14:40:00', { lines: [{ sku: cake.sku }], tenders: [{ kind: 'wechat', amount: 3550 }] }),
  }

  const name = 'Finance mailbox 财务邮箱'
  const row = await createConnection(
    hub.database.db,
    connectorRegistry,
    hub.secrets,
    m.merchantId,
    { connectorId: 'voucher-file', name, config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'vouchers@tea-house.cn', recipients: [FINANCE_MAILBOX], format: 'both' } },
    new Date(),
  )
  return { m, api, store: { ...store, code }, evilStore: { storeId: evil.storeId, code: evilCode }, date, receipts, connection: { id: row.id, name } }
}
