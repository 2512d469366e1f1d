import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('members', () => {
  const hub = useTestHub()

  it('registers a member with a normalised phone, a card number and consent on record', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as((await m.staff('cashier')).token)
    const r = await api.post('/api/v1/members', {
      phone: '138 0013 8000',
      name: '王小明',
      birthday: { month: 2, day: 29 },
      storeId: store.storeId,
      tags: ['vip', 'vip'],
      consents: [{ channel: 'sms', granted: true, source: 'till', evidence: 'ticked on the till screen' }],
    })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ phone: '+8613800138000', name: '王小明', tags: ['vip'], consents: { sms: true, email: false, wechat: false }, birthday: { month: 2, day: 29, year: null } })
    expect(r.body.cardNo).toMatch(/^8\d{15}$/)
    expect(r.body.qr).toBe(`TBM1:${r.body.cardNo}`)
    const dup = await api.post('/api/v1/members', { phone: '+86 13800138000' })
    expect(dup.status).toBe(409)
    expect(dup.body.error.code).toBe('phone_taken')
    const bad = await api.post('/api/v1/members', { phone: '12345' })
    expect(bad.body.error.code).toBe('invalid_phone')
    for (const q of [`phone=${encodeURIComponent('0086 138-0013-8000')}`, `cardNo=${r.body.cardNo}`, `qr=${encodeURIComponent(r.body.qr)}`]) {
      expect((await api.get(`/api/v1/members/lookup?${q}`)).body.id).toBe(r.body.id)
    }
    expect((await api.get('/api/v1/members/lookup?qr=nonsense')).body.error.code).toBe('invalid_member_qr')
    await api.patch(`/api/v1/members/${r.body.id}`, { consents: [{ channel: 'sms', granted: false, source: 'sms_reply', evidence: 'TD' }] })
    const history = await api.get(`/api/v1/members/${r.body.id}/consents`)
    expect(history.body.items.map((c: any) => [c.channel, c.granted, c.source])).toEqual([
      ['sms', true, 'till'],
      ['sms', false, 'sms_reply'],
    ])
    // Another merchant's member, or none: 404, as for the member itself.
    const other = createApi(hub).as((await seedMerchant(hub)).adminToken)
    for (const id of [r.body.id, '00000000-0000-4000-8000-000000000000']) {
      const theirs = await other.get(`/api/v1/members/${id}/consents`)
      expect([theirs.status, theirs.body.error?.code]).toEqual([404, 'member_not_found'])
    }
  })


  it('reads a number typed without a country code as one of the merchant’s own country, from its time zone', async () => {
    const cases: [Parameters<typeof seedMerchant>[1], string, string][] = [
      [{ currency: 'KRW', timeZone: 'Asia/Seoul' }, '010-2345-6789', '+821023456789'],
      // EUR names no one country: Paris is France, Berlin Germany.
      [{ currency: 'EUR', timeZone: 'Europe/Paris' }, '06 12 34 56 78', '+33612345678'],
      [{ currency: 'EUR', timeZone: 'Europe/Berlin' }, '0151 23456789', '+4915123456789'],
      [{ currency: 'HKD', timeZone: 'Asia/Hong_Kong' }, '5123 4567', '+85251234567'],
      // A zone of no country: the currency's.
      [{ currency: 'USD', timeZone: 'UTC' }, '(201) 555-0123', '+12015550123'],
    ]
    for (const [opts, typed, stored] of cases) {
      const m = await seedMerchant(hub, opts)
      const api = createApi(hub).as(m.adminToken)
      const r = await api.post('/api/v1/members', { phone: typed })
      expect([opts!.timeZone, r.status, r.body.phone]).toEqual([opts!.timeZone, 201, stored])
      expect((await api.get(`/api/v1/members/lookup?phone=${encodeURIComponent(typed)}`)).body.id).toBe(r.body.id)
    }
  })
  it('a merged member’s card, QR and phone find the member it was merged into; a new member on that phone comes first', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const kept = (await api.post('/api/v1/members', { phone: '13900000011' })).body
    const gone = (await api.post('/api/v1/members', { phone: '13900000012' })).body
    const last = (await api.post('/api/v1/members', { phone: '13900000013' })).body
    expect((await api.post(`/api/v1/members/${kept.id}/merge`, { sourceId: gone.id })).status).toBe(200)
    expect((await api.post(`/api/v1/members/${last.id}/merge`, { sourceId: kept.id })).status).toBe(200)
    // The customer still carries the old card: it finds the member that stands at the end of the merges.
    for (const q of [`cardNo=${gone.cardNo}`, `qr=${encodeURIComponent(gone.qr)}`, 'phone=13900000012', `cardNo=${kept.cardNo}`]) {
      const r = await api.get(`/api/v1/members/lookup?${q}`)
      expect([r.status, r.body.id], q).toEqual([200, last.id])
    }
    // The phone given to a new member is theirs.
    const fresh = (await api.post('/api/v1/members', { phone: '13900000012' })).body
    expect((await api.get('/api/v1/members/lookup?phone=13900000012')).body.id).toBe(fresh.id)
    expect((await api.get('/api/v1/members/lookup?cardNo=8000000000000000')).status).toBe(404)
  })

  it('keeps one merchant’s members away from another', async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const member = await createApi(hub).as(a.adminToken).post('/api/v1/members', { phone: '13900000001' })
    expect((await createApi(hub).as(b.adminToken).get(`/api/v1/members/${member.body.id}`)).status).toBe(404)
    expect((await createApi(hub).as(b.adminToken).get('/api/v1/members/lookup?phone=13900000001')).status).toBe(404)
    // The same phone may be a member of the other merchant.
    expect((await createApi(hub).as(b.adminToken).post('/api/v1/members', { phone: '13900000001' })).status).toBe(201)
  })
})

describe('points', () => {
  const hub = useTestHub()

  async function setup(settings: Record<string, unknown> = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    if (Object.keys(settings).length) await admin.patch('/api/v1/merchant/settings', { loyalty: settings })
    const member = (await admin.post('/api/v1/members', { phone: `1390000${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}` })).body
    return { m, store, admin, member }
  }

  it('earns a point per ¥1 of paid amount, not for stored value or on account, rounding down', async () => {
    const { store, admin, member } = await setup()
    const item = await seedProduct(hub, store, { price: 12_99, stock: 10 })
    await admin.post(`/api/v1/members/${member.id}/stored-value/adjust`, { principal: 500, bonus: 0, reason: 'opening balance' })
    const sale = await admin.post('/api/v1/sales', {
      registerId: store.registerId,
      memberId: member.id,
      customerName: 'x',
      lines: [{ sku: item.sku, quantity: 3 }],
      tenders: [{ kind: 'stored_value', amount: 500 }, { kind: 'on_account', amount: 1000 }, { kind: 'card', amount: 2397 }],
    })
    expect(sale.status).toBe(201)
    // 38.97 paid; 5.00 stored value and 10.00 on account earn nothing: floor(23.97) = 23.
    expect(sale.body.pointsEarned).toBe(23)
    const pts = await admin.get(`/api/v1/members/${member.id}/points`)
    expect(pts.body.balance).toBe(23)
    expect(pts.body.ledger[0]).toMatchObject({ kind: 'earn', delta: 23, balanceAfter: 23, saleId: sale.body.id })
    expect(pts.body.lots).toEqual([{ remaining: 23, expiresAt: `${Number(sale.body.businessDate.slice(0, 4)) + 1}-12-31` }])
  })

  it('a refund of part of a sale takes back exactly the points that part earned, and gives back points it spent', async () => {
    const { store, admin, member } = await setup({ maxRedeemBp: 10_000 })
    const item = await seedProduct(hub, store, { price: 10_00, stock: 20 })
    await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 300, reason: 'welcome' })
    // Three items, 300 points (¥3.00) redeemed: pays 27.00, earns 27 points.
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, redeemPoints: 300, lines: [{ sku: item.sku, quantity: 3 }], tenders: [{ kind: 'card', amount: 2700 }] })).body
    expect(sale).toMatchObject({ total: 2700, pointsEarned: 27, pointsRedeemed: 300 })
    expect(sale.lines[0].adjustments).toEqual([expect.objectContaining({ source: 'points', amount: 300 })])
    let pts = (await admin.get(`/api/v1/members/${member.id}/points`)).body
    expect(pts.balance).toBe(27)
    // Refund one of three: 9.00 of 27.00 → takes back 9 points, returns 100 spent points.
    const r1 = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(r1.status).toBe(201)
    pts = (await admin.get(`/api/v1/members/${member.id}/points`)).body
    expect(pts.balance).toBe(27 - 9 + 100)
    expect(pts.ledger.slice(0, 2).map((l: any) => [l.kind, l.delta])).toEqual([
      ['refund_restore', 100],
      ['refund_reversal', -9],
    ])
    // The other two: everything earned is back (27) and everything spent (300) returned.
    await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 2 }] })
    pts = (await admin.get(`/api/v1/members/${member.id}/points`)).body
    expect(pts.balance).toBe(300)
    expect(pts.owed).toBe(0)
  })

  it('records a debt when a refund takes back points already spent, and the next earnings pay it off', async () => {
    const { store, admin, member } = await setup()
    const item = await seedProduct(hub, store, { price: 50_00, stock: 20 })
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 5000 }] })).body
    expect(sale.pointsEarned).toBe(50)
    await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: -40, reason: 'spent on a gift' })
    await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    let m = (await admin.get(`/api/v1/members/${member.id}`)).body
    expect(m.points).toEqual({ balance: 0, owed: 40 })
    await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 5000 }] })
    m = (await admin.get(`/api/v1/members/${member.id}`)).body
    expect(m.points).toEqual({ balance: 10, owed: 0 })
  })

  it('spends the first-expiring points first and expires what is left on its date', async () => {
    const { m, admin, member } = await setup({ expiry: { days: 30 } })
    const { creditPoints, expirePoints, debitPoints } = await import('../../src/core/members/points.ts')
    const { systemActor } = await import('../../src/core/staff/actor.ts')
    const actor = systemActor(m.merchantId)
    // Spent in January, before either lot's last day.
    const at = new Date('2026-01-15T04:00:00Z')
    await hub.database.db.transaction(async (tx) => {
      await creditPoints(tx, { actor, memberId: member.id, at }, 100, 'earn', '2026-01-31')
      await creditPoints(tx, { actor, memberId: member.id, at }, 100, 'earn', '2026-03-31')
      await debitPoints(tx, { actor, memberId: member.id, at }, 150, 'redeem')
    })
    let pts = (await admin.get(`/api/v1/members/${member.id}/points`)).body
    expect(pts.lots).toEqual([{ remaining: 50, expiresAt: '2026-03-31' }])
    await hub.database.db.transaction((tx) => expirePoints(tx, actor, '2026-04-01'))
    pts = (await admin.get(`/api/v1/members/${member.id}/points`)).body
    expect(pts.balance).toBe(0)
    expect(pts.ledger[0]).toMatchObject({ kind: 'expire', delta: -50, balanceAfter: 0 })
  })

  it('refuses redemptions off the step, over the balance or over the merchant’s share', async () => {
    const { store, admin, member } = await setup({ maxRedeemBp: 5000 })
    const item = await seedProduct(hub, store, { price: 10_00, stock: 20 })
    await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: 1000, reason: 'x' })
    const q = (redeemPoints: number) => admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, redeemPoints, lines: [{ sku: item.sku }] })
    expect((await q(150)).body.error.code).toBe('invalid_points')
    expect((await q(600)).body.error).toMatchObject({ code: 'points_over_limit', details: { maxDiscount: 500 } })
    expect((await q(2000)).body.error.code).toBe('insufficient_points')
    const ok = await q(500)
    expect(ok.body).toMatchObject({ total: 500, member: { pointsRedeemed: 500, pointsDiscount: 500 } })
  })

  it('the points and stored-value ledgers page from the newest entry back, each entry once; a bad cursor is a 400', async () => {
    const { admin, member, store } = await setup()
    for (let i = 1; i <= 5; i++) {
      expect((await admin.post(`/api/v1/members/${member.id}/points/adjust`, { delta: i, reason: `gift ${i}` })).status).toBe(200)
      const t = await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 100 * i, tenders: [{ kind: 'cash', amount: 100 * i }] })
      expect(t.status, JSON.stringify(t.body)).toBe(201)
    }
    for (const [path, amountOf] of [
      ['points', (e: any) => e.delta],
      ['stored-value', (e: any) => e.principalDelta],
    ] as const) {
      const seen: number[] = []
      let cursor: string | null = null
      for (let pages = 0; pages < 10; pages++) {
        const r: { status: number; body: any } = await admin.get(`/api/v1/members/${member.id}/${path}?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        expect(r.status, JSON.stringify(r.body)).toBe(200)
        seen.push(...r.body.ledger.map(amountOf))
        cursor = r.body.nextCursor
        if (!cursor) break
      }
      expect(seen, path).toEqual(path === 'points' ? [5, 4, 3, 2, 1] : [500, 400, 300, 200, 100])
      for (const bad of ['0', 'abc', '-3']) {
        const r = await admin.get(`/api/v1/members/${member.id}/${path}?cursor=${bad}`)
        expect([r.status, r.body.error?.code], `${path} ${bad}`).toEqual([400, 'validation_failed'])
      }
    }
    expect((await admin.get('/api/v1/audit?cursor=0')).status).toBe(400)
  })

  it('the ledger always adds up to the balance, and the lots to what can be spent', async () => {
    const rows = await hub.database.db.execute(sql`
      select m.id, m.points_balance,
             coalesce((select sum(delta) from points_ledger l where l.member_id = m.id), 0)::bigint as ledger,
             coalesce((select sum(remaining) from points_lots p where p.member_id = m.id), 0)::bigint as lots
        from members m where m.status = 'active'`)
    expect(rows.rows.length).toBeGreaterThan(0)
    for (const r of rows.rows as any[]) {
      expect(Number(r.ledger)).toBe(Number(r.points_balance))
      expect(Number(r.lots)).toBe(Number(r.points_balance))
    }
  })
})
