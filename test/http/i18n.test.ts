import { beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { randomUUID } from 'node:crypto'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api, type SeededMerchant } from '../helpers/api.ts'
import { seedReconDay, type ReconDay } from '../helpers/recon-dashboard.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { createApp, type App } from '../../src/http/app.ts'
import { pgError } from '../../src/db/errors.ts'

/** The first line of a CSV file, without its BOM. */
const headerOf = (text: string) => text.replace(/^\ufeff/, '').split('\r\n')[0]!.split(',')

/** Signs a browser-less client into the dashboard; returns a GET that carries its cookie. */
async function dashboardAs(app: App, email: string, password: string) {
  const loginPage = await app.request('/dashboard/login')
  const cookie = loginPage.headers.getSetCookie()[0]!.split(';')[0]!
  const token = /name="_login" value="([^"]+)"/.exec(await loginPage.text())![1]!
  const signedIn = await app.request('/dashboard/login', {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _login: token, next: '/dashboard/reconciliation', email, password }).toString(),
    redirect: 'manual',
  })
  expect(signedIn.status).toBe(303)
  const session = signedIn.headers.getSetCookie().find((c) => c.startsWith('tb_dashboard='))!.split(';')[0]!
  return (path: string) => app.request(path, { headers: { cookie: session } })
}

describe('languages of the API', () => {
  const hub = useTestHub()
  let m: SeededMerchant
  let admin: Api
  let anonymous: Api

  beforeAll(async () => {
    m = await seedMerchant(hub)
    admin = createApi(hub).as(m.adminToken)
    anonymous = createApi(hub)
  })

  const missingUser = () => admin.get(`/api/v1/users/${randomUUID()}`)

  it('answers the same bad request in the user’s language, with the same code', async () => {
    // A new merchant speaks Simplified Chinese, and so do its users until they choose.
    const zhCN = await missingUser()
    expect(zhCN.status).toBe(404)
    expect(zhCN.body.error).toEqual({ code: 'user_not_found', message: '没有找到该用户' })

    expect((await admin.patch('/api/v1/me', { locale: 'en' })).status).toBe(200)
    const en = await missingUser()
    expect(en.status).toBe(404)
    expect(en.body.error.code).toBe('user_not_found')
    expect(en.body.error.message).toMatch(/^user [0-9a-f-]{36} was not found$/)

    expect((await admin.patch('/api/v1/me', { locale: 'zh-TW' })).status).toBe(200)
    const zhTW = await missingUser()
    expect(zhTW.body.error).toEqual({ code: 'user_not_found', message: '沒有找到該使用者' })

    // A validation failure keeps the field and zod's words for the rule, behind a sentence in the user's language.
    const bad = await admin.patch('/api/v1/me', { locale: 'fr' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('validation_failed')
    expect(bad.body.error.message).toMatch(/^請求內容無效：json\.locale（.+）$/)
    expect(bad.body.error.details.issues[0].path).toBe('json.locale')

    // The user's language beats what the client's Accept-Language asks for.
    const asked = await admin.get(`/api/v1/users/${randomUUID()}`, { headers: { 'accept-language': 'en-US,en;q=0.9' } })
    expect(asked.body.error.message).toBe('沒有找到該使用者')

    expect((await admin.patch('/api/v1/me', { locale: null })).status).toBe(200)
    expect((await missingUser()).body.error.message).toBe('没有找到该用户')
  })

  it('fills a message with the specifics its details carry', async () => {
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    const en = await cashier.get('/api/v1/users', { headers: { 'accept-language': 'en' } })
    expect(en.status).toBe(403)
    expect(en.body.error.code).toBe('permission_denied')
    const permission = en.body.error.details.permission as string
    // The cashier follows the merchant (zh-CN): Accept-Language does not matter once the caller is known.
    expect(en.body.error.message).toBe(`角色 cashier 无权执行 ${permission}`)
  })

  it('gives amounts in a message as money of the merchant’s currency, with its decimals, not in minor units', async () => {
    for (const [currency, locale, due, paid] of [
      ['CNY', 'zh-CN', '¥12.00', '¥10.00'],
      ['JPY', 'zh-CN', 'JP¥1,200', 'JP¥1,000'],
      ['CNY', 'en', 'CN¥12.00', 'CN¥10.00'],
    ] as const) {
      const shop = await seedMerchant(hub, { currency, locale })
      const store = await seedStore(hub, shop.merchantId)
      const item = await seedProduct(hub, store, { price: 1200, stock: 10 })
      const till = createApi(hub).as(shop.adminToken)
      const r = await till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1000 }] })
      expect([r.status, r.body.error.code, r.body.error.details]).toEqual([422, 'underpaid', { amountDue: 1200, paid: 1000 }])
      expect([currency, locale, r.body.error.message]).toEqual([currency, locale, locale === 'en' ? `tenders cover ${paid} of ${due}` : `付款不足：应付 ${due}，已付 ${paid}`])
    }
  })

  it('answers a caller nobody knows in the language Accept-Language asks for', async () => {
    const ask = (accept?: string) => anonymous.get('/api/v1/me', { headers: accept ? { 'accept-language': accept } : {} })
    const none = await ask()
    expect(none.status).toBe(401)
    expect(none.body.error.code).toBe('unauthenticated')
    expect(none.body.error.message).toMatch(/^send a session token or API key/)

    expect((await ask('zh-CN,zh;q=0.9,en;q=0.8')).body.error.message).toBe('请登录，或以 "Authorization: Bearer <令牌>" 发送会话令牌或 API 密钥')
    for (const tw of ['zh-TW', 'zh-HK', 'zh-Hant', 'fr;q=0.9, zh-TW;q=0.5']) {
      const r = await ask(tw)
      expect(r.body.error.code, tw).toBe('unauthenticated')
      expect(r.body.error.message, tw).toBe('請登入，或以 "Authorization: Bearer <令牌>" 傳送會話令牌或 API 金鑰')
    }
    expect((await ask('de-DE,fr;q=0.8')).body.error.message).toMatch(/^send a session token/)

    const badToken = await anonymous.get('/api/v1/me', { token: 'tbs_not-a-session', headers: { 'accept-language': 'zh' } })
    expect(badToken.body.error).toEqual({ code: 'invalid_token', message: '令牌无效、已过期或已被吊销，请重新登录' })

    // Routes that do not exist and bodies that are not JSON are answered in the same way.
    const noRoute = await anonymous.get('/api/v1/no-such-thing', { headers: { 'accept-language': 'zh-CN' } })
    expect(noRoute.body.error).toEqual({ code: 'not_found', message: '没有这个接口：GET /api/v1/no-such-thing' })
  })

  it('answers an API key in its merchant’s language', async () => {
    const other = await seedMerchant(hub)
    const otherAdmin = createApi(hub).as(other.adminToken)
    const created = await otherAdmin.post('/api/v1/api-keys', { name: 'till sync', role: 'admin' })
    expect(created.status).toBe(201)
    const key = createApi(hub).as(created.body.key)
    expect((await key.get(`/api/v1/users/${randomUUID()}`)).body.error.message).toBe('没有找到该用户')
    expect((await otherAdmin.patch('/api/v1/merchant', { locale: 'zh-TW' })).status).toBe(200)
    const r = await key.get(`/api/v1/users/${randomUUID()}`, { headers: { 'accept-language': 'en' } })
    expect(r.body.error).toEqual({ code: 'user_not_found', message: '沒有找到該使用者' })

    // A key has no language of its own to set.
    const refused = await key.patch('/api/v1/me', { locale: 'en' })
    expect(refused.status).toBe(422)
    expect(refused.body.error.code).toBe('user_required')
    expect(refused.body.error.message).toBe('只有登入的使用者可以設定自己的語言；API 金鑰使用商戶的語言')
  })

  it('lets a user set and clear their own language through PATCH /api/v1/me, audited', async () => {
    const manager = await m.staff('manager')
    const api = createApi(hub).as(manager.token)
    const before = await api.get('/api/v1/me')
    expect(before.body.locale).toEqual({ user: null, merchant: 'zh-CN', effective: 'zh-CN' })
    expect(before.body.user.locale).toBeNull()

    const set = await api.patch('/api/v1/me', { locale: 'en' })
    expect(set.status).toBe(200)
    expect(set.body.locale).toEqual({ user: 'en', merchant: 'zh-CN', effective: 'en' })
    expect(set.body.user.locale).toBe('en')
    expect((await api.get('/api/v1/me')).body.locale.effective).toBe('en')

    // Only the locale may be sent, and only one of ours.
    for (const body of [{ locale: 'en-GB' }, { locale: 'zh-CN', name: 'x' }, {}]) {
      const r = await api.patch('/api/v1/me', body)
      expect(r.status, JSON.stringify(body)).toBe(400)
      expect(r.body.error.code).toBe('validation_failed')
    }
    expect((await api.get('/api/v1/me')).body.locale.user).toBe('en')

    const cleared = await api.patch('/api/v1/me', { locale: null })
    expect(cleared.body.locale).toEqual({ user: null, merchant: 'zh-CN', effective: 'zh-CN' })

    const audit = await hub.database.db.execute<{ details: { from: string | null; to: string | null } }>(sql`
      select details from audit_log where merchant_id = ${m.merchantId} and actor_id = ${manager.id} and action = 'user.locale_changed' order by id`)
    expect(audit.rows.map((r) => r.details)).toEqual([
      { from: null, to: 'en' },
      { from: 'en', to: null },
    ])
  })

  it('refuses a locale the database does not know, whoever writes it', async () => {
    const refused = await hub.database.db.execute(sql`update users set locale = 'fr' where id = ${m.adminId}`).then(() => undefined, (e: unknown) => e)
    expect(pgError(refused)).toMatchObject({ code: '23514', constraint: 'users_locale_check' })
  })
})

describe('exports and money in the reader’s language and currency', () => {
  const hub = useTestHub()
  let day: ReconDay
  let app: App

  beforeAll(async () => {
    day = await seedReconDay(hub)
    // The merchant speaks Simplified Chinese, as a new merchant does.
    await hub.database.db.execute(sql`update merchants set locale = 'zh-CN' where id = ${day.m.merchantId}`)
    app = createApp(hub)
  })

  const exportPath = () => `/api/v1/reconciliation/exceptions/export?format=csv&state=all&from=${day.date}&to=${day.date}`

  it('names export columns in the user’s language, keeping the keys for scripts by default', async () => {
    const finance = await day.m.staff('finance')
    const api = createApi(hub, {}, app).as(finance.token)

    // No language of their own and no Accept-Language: the stable keys, whatever the merchant speaks.
    const keys = await api.get(exportPath())
    expect(keys.status).toBe(200)
    expect(headerOf(keys.body).slice(0, 4)).toEqual(['business_date', 'connection_id', 'store', 'outcome'])

    expect((await api.patch('/api/v1/me', { locale: 'zh-TW' })).status).toBe(200)
    const tw = await api.get(exportPath())
    const header = headerOf(tw.body)
    expect(header.slice(0, 4)).toEqual(['營業日', '連線 ID', '門店', '對賬結果'])
    expect(header).toContain('收銀金額')
    expect(header.join()).not.toMatch(/[营业对账银额]/)
    // The rows are the same data either way.
    expect(tw.body.split('\r\n').slice(1)).toEqual(keys.body.split('\r\n').slice(1))

    // A client may ask through Accept-Language when the user has not chosen.
    expect((await api.patch('/api/v1/me', { locale: null })).status).toBe(200)
    const asked = await api.get(exportPath(), { headers: { 'accept-language': 'zh-CN' } })
    expect(headerOf(asked.body).slice(0, 4)).toEqual(['营业日', '连接 ID', '门店', '对账结果'])

    // Reports CSV too.
    expect((await api.patch('/api/v1/me', { locale: 'zh-TW' })).status).toBe(200)
    const report = await api.get(`/api/v1/reports/daily-sales?date=${day.date}&format=csv`)
    expect(report.status).toBe(200)
    const reportHeader = headerOf(report.body)
    expect(reportHeader.slice(0, 4)).toEqual(['營業日', '門店編號', '門店名稱', '交易筆數'])
    expect(reportHeader).toContain('收款 wechat 淨額')
    expect(reportHeader).toContain('10 時 金額')
  })

  it('shows dashboard money in the merchant’s currency: HKD, UAH', async () => {
    await hub.database.db.execute(sql`update users set locale = 'en' where id = ${day.m.adminId}`)
    const get = await dashboardAs(app, day.m.adminEmail, day.m.password)
    const grid = async () => {
      const r = await get('/dashboard/reconciliation')
      expect(r.status).toBe(200)
      return r.text()
    }
    expect(await grid()).toContain('¥51.60')

    await hub.database.db.execute(sql`update merchants set currency = 'HKD' where id = ${day.m.merchantId}`)
    const hkd = await grid()
    expect(hkd).toContain('HK$51.60')
    expect(hkd).not.toMatch(/¥\d/)

    await hub.database.db.execute(sql`update merchants set currency = 'UAH' where id = ${day.m.merchantId}`)
    expect(await grid()).toMatch(/UAH\s51\.60/)
  })
})
