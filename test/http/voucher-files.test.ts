import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import iconv from 'iconv-lite'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore, setSettings } from '../helpers/pos.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'
import { parseSettings } from '../../src/core/merchants/settings.ts'

const DAY = '2026-11-21'
const tzAt = (local: string, offset = '+08:00') => new Date(`${local.replace(' ', 'T')}${offset}`)
/** Whether every byte sequence is ASCII or a two-byte GBK (CP936) pair: what a strict GBK reader takes. */
const isPlainGbk = (buf: Buffer) => {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    if (b < 0x80) continue
    const t = buf[i + 1]
    if (b < 0x81 || b > 0xfe || t === undefined || t < 0x40 || t > 0xfe || t === 0x7f) return false
    i++
  }
  return true
}

describe('voucher files of corrections and uncommon text', () => {
  const hub = useTestHub()
  const smtp = smtpSandbox()
  beforeAll(() => smtp.start())
  afterAll(() => smtp.stop())
  afterEach(() => hub.setNow(undefined))

  async function day(opts: { code?: string; timeZone?: string; currency?: string; offset?: string; summaries?: Record<string, string>; correction?: 'reversal' | 'difference'; price?: number } = {}) {
    const m = await seedMerchant(hub, { timeZone: opts.timeZone ?? 'Asia/Shanghai', currency: opts.currency })
    await setSettings(hub, m.merchantId, { vouchers: { ...parseSettings({}).vouchers, summaries: opts.summaries ?? {}, correction: opts.correction ?? 'reversal' } })
    const store = await seedStore(hub, m.merchantId, { code: opts.code ?? `F${Date.now() % 100000}`, openSession: false })
    const item = await seedProduct(hub, store, { price: opts.price ?? 1130, cost: 600, stock: 100 })
    const item2 = await seedProduct(hub, store, { price: 599, cost: 300, stock: 100, tax: 'reduced' as any })
    let admin = createApi(hub).as(m.adminToken)
    hub.setNow(tzAt(`${DAY} 09:00:00`, opts.offset))
    admin = createApi(hub).as(await m.adminTokenNow())
    const sales: any[] = []
    expect((await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })).status).toBe(201)
    for (const [kind, it] of [['wechat', item], ['cash', item], ['alipay', item], ['wechat', item2], ['cash', item2]] as const) {
      const p = it === item ? opts.price ?? 1130 : 599
      const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: it.sku }], tenders: [{ kind, amount: p }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      sales.push(r.body)
    }
    hub.setNow(undefined)
    admin = createApi(hub).as(m.adminToken)
    const mail = await admin.post('/api/v1/connections', {
      connectorId: 'voucher-file',
      name: 'Finance mailbox',
      config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'hub@shop.example', recipients: ['finance@shop.example'] },
    })
    expect(mail.status, JSON.stringify(mail.body)).toBe(201)
    return { m, store, item, admin, mailId: mail.body.id as string, sales }
  }

  /** A unit of the day's first sale refunded at 20:00 that day, after its voucher went out; the day built again. */
  async function lateRefund(d: Awaited<ReturnType<typeof day>>) {
    hub.setNow(tzAt(`${DAY} 20:00:00`))
    const admin = createApi(hub).as(await d.m.adminTokenNow())
    const s = d.sales[0]
    expect((await admin.post(`/api/v1/sales/${s.id}/refunds`, { registerId: d.store.registerId, lines: [{ saleLineId: s.lines[0].id, quantity: 1 }] })).status).toBe(201)
    hub.setNow(undefined)
    return d.admin.post('/api/v1/vouchers/build', { storeId: d.store.storeId, date: DAY })
  }

  const raw = async (admin: any, token: string, path: string) => {
    const res = await admin.app.request(path, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) }
  }

  it('a CSV whose summary holds a character GBK lacks keeps it and says GB18030; one that does not is plain GBK', async () => {
    const d = await day({ summaries: { sale_revenue: '{date} {store} 销售收入😀𠀀 {rate}' } })
    const v = (await d.admin.post('/api/v1/vouchers/build', { storeId: d.store.storeId, date: DAY })).body.voucher
    for (const layout of ['generic', 'u8']) {
      const f = await raw(d.admin, d.m.adminToken, `/api/v1/vouchers/${v.id}/file?format=csv&encoding=gbk&layout=${layout}`)
      expect([layout, f.status, f.headers.get('content-type')]).toEqual([layout, 200, `${layout === 'u8' ? 'text/plain' : 'text/csv'}; charset=GB18030`])
      expect(iconv.decode(f.bytes, 'gb18030')).toContain('销售收入😀𠀀')
      expect(isPlainGbk(f.bytes)).toBe(false)
    }
    // The euro sign: Windows' code page 936 writes it as the one byte 0x80, which GBK and GB18030 readers refuse.
    const euro = await day({ summaries: { sale_revenue: '{date} 销售收入€ {rate}' } })
    const ev = (await euro.admin.post('/api/v1/vouchers/build', { storeId: euro.store.storeId, date: DAY })).body.voucher
    const ef = await raw(euro.admin, euro.m.adminToken, `/api/v1/vouchers/${ev.id}/file?format=csv&encoding=gbk`)
    expect(ef.headers.get('content-type')).toBe('text/csv; charset=GB18030')
    expect(ef.bytes.includes(0x80)).toBe(false)
    expect(iconv.decode(ef.bytes, 'gb18030')).toContain('销售收入€')
    const plain = await day()
    const pv = (await plain.admin.post('/api/v1/vouchers/build', { storeId: plain.store.storeId, date: DAY })).body.voucher
    const f = await raw(plain.admin, plain.m.adminToken, `/api/v1/vouchers/${pv.id}/file?format=csv&encoding=gbk`)
    expect(f.headers.get('content-type')).toBe('text/csv; charset=GBK')
    expect(isPlainGbk(f.bytes)).toBe(true)
  })

  it('a correction of a long summary with an emoji near the 60th unit keeps whole characters (no U+FFFD, no half of a pair)', async () => {
    // 56 units of text, an emoji (2 units) and one more: 59, within the 60 a template may hold; 冲销/调整 push it past.
    const tmpl = '门'.repeat(56) + '😀' + 'x'
    expect(tmpl.length).toBe(59)
    for (const correction of ['reversal', 'difference'] as const) {
      const d = await day({ correction, summaries: { sale_revenue: tmpl, tender: tmpl } })
      const built = await d.admin.post('/api/v1/vouchers/build', { storeId: d.store.storeId, date: DAY })
      expect(built.status, JSON.stringify(built.body)).toBe(200)
      const v = built.body.voucher
      expect((await d.admin.post(`/api/v1/vouchers/${v.id}/export`, { connectionId: d.mailId })).status).toBe(200)
      const again = await lateRefund(d)
      expect(again.body.outcome, JSON.stringify(again.body)).toBe('corrected')
      const corr = (await d.admin.get(`/api/v1/vouchers/${again.body.corrections[0].id}`)).body
      const summaries: string[] = corr.lines.map((l: any) => l.summary)
      const bad = summaries.filter((x) => x.includes('\ufffd') || /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(x))
      expect(bad, `${correction}: ${JSON.stringify(summaries)}`).toEqual([])
      const f = await raw(d.admin, d.m.adminToken, `/api/v1/vouchers/${corr.id}/file?format=csv&encoding=utf8`)
      expect(f.bytes.toString('utf8'), correction).not.toContain('\ufffd')
    }
  })

  it('a store code of 14 characters: the U8 layout takes its reversal, the 业务号 shortened to 30 the same way each time', async () => {
    const d = await day({ code: 'ABCDEFGHIJKLMN' })
    const u8 = await d.admin.post('/api/v1/connections', {
      connectorId: 'voucher-file',
      name: 'U8 mailbox',
      config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'hub@shop.example', recipients: ['u8@shop.example'], layout: 'u8', format: 'csv' },
    })
    expect(u8.status, JSON.stringify(u8.body)).toBe(201)
    const built = await d.admin.post('/api/v1/vouchers/build', { storeId: d.store.storeId, date: DAY })
    const v = built.body.voucher
    const daily = await raw(d.admin, d.m.adminToken, `/api/v1/vouchers/${v.id}/file?format=csv&layout=u8`)
    expect(daily.status).toBe(200)
    const ex = await d.admin.post(`/api/v1/vouchers/${v.id}/export`, { connectionId: u8.body.id })
    expect(ex.status, JSON.stringify(ex.body)).toBe(200)
    const again = await lateRefund(d)
    const rev = again.body.corrections[0]
    const exRev = await d.admin.post(`/api/v1/vouchers/${rev.id}/export`, { connectionId: u8.body.id })
    expect(exRev.status, `export of the reversal to the U8 file connection: ${JSON.stringify(exRev.body)}`).toBe(200)
    const f = await raw(d.admin, d.m.adminToken, `/api/v1/vouchers/${rev.id}/file?format=csv&layout=u8`)
    expect(f.status, `${rev.reference} (${rev.reference.length}): ${f.bytes.toString()}`).toBe(200)
    const businessNo = (bytes: Buffer) => iconv.decode(bytes, 'gbk').split('\r\n')[1]!.split(',')[2]!
    expect(businessNo(f.bytes).length).toBeLessThanOrEqual(30)
    expect(businessNo(f.bytes)).not.toBe(businessNo(daily.bytes))
    expect(businessNo((await raw(d.admin, d.m.adminToken, `/api/v1/vouchers/${rev.id}/file?format=csv&layout=u8`)).bytes)).toBe(businessNo(f.bytes))
  })
})
