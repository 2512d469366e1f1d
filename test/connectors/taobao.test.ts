import { createHash, createHmac, randomUUID } from 'node:crypto'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { asc, eq } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { taobaoSandbox, type SimItem } from '../../src/sandboxes/vendors/taobao.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { secretFields } from '../../src/connectors/framework/define.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { traitsOf, type Page, type RemoteListing, type RemoteOrder, type StockAdjustment, type StockWrite } from '../../src/connectors/framework/marketplace.ts'
import { taobao } from '../../src/connectors/marketplace/taobao/index.ts'
import { callTop, classifyTopAnswer } from '../../src/connectors/marketplace/taobao/gateway.ts'
import { gmt8, signContent, topSign } from '../../src/connectors/marketplace/taobao/sign.ts'

const caps = taobao.capabilities
const APP_KEY = '12345678'
const APP_SECRET = 'sandbox-app-secret-0123456789abcdef'
const SESSION = '6100e2f8a7c4b3d2e1f0sandboxsessionkey2200001'
const TMALL_GATEWAY = 'https://gw.tmall-sandbox.test/router/rest'

const beijing = (t: string) => new Date(`${t.replace(' ', 'T')}+08:00`)
const connectorError = (p: Promise<unknown>) => rejection(p, ConnectorError, 'expected a ConnectorError')
const upperHex = (h: { digest(e: 'hex'): string }) => h.digest('hex').toUpperCase()

describe('TOP request signing', () => {
  const FOO = { foo: '1', bar: '2', foo_bar: '3', foobar: '4' }

  it('concatenates name and value of every parameter in ASCII order, as the TOP guide shows', () => {
    expect(signContent(FOO)).toBe('bar2foo1foo_bar3foobar4')
    // sign and empty values are left out.
    expect(signContent({ ...FOO, sign: 'X', empty: '', absent: undefined })).toBe('bar2foo1foo_bar3foobar4')
  })

  it('signs md5, hmac and hmac-sha256 as upper-case hex of the vector computed here independently', () => {
    const text = 'bar2foo1foo_bar3foobar4'
    const secret = 'helloworld'
    expect(topSign(FOO, secret, 'md5')).toBe(upperHex(createHash('md5').update(secret + text + secret)))
    expect(topSign(FOO, secret, 'hmac')).toBe(upperHex(createHmac('md5', secret).update(text)))
    expect(topSign(FOO, secret, 'hmac-sha256')).toBe(upperHex(createHmac('sha256', secret).update(text)))
    expect(new Set([topSign(FOO, secret, 'md5'), topSign(FOO, secret, 'hmac'), topSign(FOO, secret, 'hmac-sha256')]).size).toBe(3)
  })

  it('reproduces the signature of the worked example in the TOP guide (taobao.item.seller.get, secret helloworld)', () => {
    const params = {
      method: 'taobao.item.seller.get',
      app_key: '12345678',
      session: 'test',
      timestamp: '2016-01-01 12:00:00',
      format: 'json',
      v: '2.0',
      sign_method: 'md5',
      fields: 'num_iid,title,nick,price,num',
      num_iid: '11223344',
    }
    expect(topSign(params, 'helloworld', 'md5')).toBe('66987CB115214E59E6EC978214934FB8')
  })

  it('writes timestamps in Beijing time whatever the server zone', () => {
    expect(gmt8(new Date('2026-03-14T16:30:05Z'))).toBe('2026-03-15 00:30:05')
  })

  it('classifies error_response answers by code and sub_code', () => {
    const err = (e: Record<string, unknown>) => classifyTopAnswer({ error_response: { request_id: 'x', ...e } })
    expect(classifyTopAnswer({ items: [], request_id: 'x' })).toEqual({ kind: 'ok' })
    expect(err({ code: 7, msg: 'App Call Limited', sub_code: 'accesscontrol.limited-by-app-access-count', sub_msg: 'This ban will last for 3 more seconds' })).toMatchObject({
      kind: 'rate_limited',
      vendorCode: 'accesscontrol.limited-by-app-access-count',
      waitSeconds: 3,
    })
    expect(err({ code: 15, msg: 'Remote service error', sub_code: 'isp.call-limited' })).toMatchObject({ kind: 'rate_limited' })
    expect(err({ code: 27, msg: 'Invalid session', sub_code: 'invalid-sessionkey' })).toMatchObject({ kind: 'auth_failed', vendorCode: 'invalid-sessionkey' })
    expect(err({ code: 25, msg: 'Invalid signature' })).toMatchObject({ kind: 'auth_failed', vendorCode: '25' })
    expect(err({ code: 15, msg: 'Remote service error', sub_code: 'isp.top-remote-service-unavailable' })).toMatchObject({ kind: 'retryable' })
    expect(err({ code: 15, msg: 'Remote service error', sub_code: 'isv.item-not-exist' })).toMatchObject({ kind: 'permanent', vendorCode: 'isv.item-not-exist' })
    expect(classifyTopAnswer('<html>502</html>')).toMatchObject({ kind: 'retryable' })
  })
})

describe('the Taobao/Tmall connector against TOP', () => {
  const hub = useTestHub()
  const clock = () => hub.clock()
  const tb = taobaoSandbox({ appKey: APP_KEY, appSecret: APP_SECRET, sessionKey: SESSION, platform: 'taobao', sellerNick: 'tb_shop_sh01', clock })
  const tm = taobaoSandbox({ appKey: APP_KEY, appSecret: APP_SECRET, sessionKey: SESSION, platform: 'tmall', sellerNick: 'tm_flagship', clock, gatewayUrl: TMALL_GATEWAY })
  const vendor = useVendorServer(hub, ...tb.handlers, ...tm.handlers)

  afterEach(() => {
    hub.setNow(undefined)
    for (const s of [tb, tm]) {
      s.state.down = false
      s.state.rateLimitNext = 0
      s.setClock(clock)
    }
  })

  const connect = connectWith(hub, vendor, 'taobao', { name: () => `Taobao ${randomUUID()}`, config: { appKey: APP_KEY, appSecret: APP_SECRET, sessionKey: SESSION } })
  const connectTmall = (config: Record<string, unknown> = {}) => connect({ platform: 'tmall', gatewayUrl: TMALL_GATEWAY, ...config })
  const callsOf = (connectionId: string) => hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))

  const write = (externalId: string, quantity: number): StockWrite => {
    const [numIid, skuId] = externalId.split(':')
    return { externalId, externalIds: { numIid: numIid!, ...(skuId ? { skuId } : {}) }, locationId: 'default', quantity, expected: null, idempotencyKey: randomUUID(), reference: 'tillbridge:test' }
  }
  const adjust = (externalId: string, delta: number, idempotencyKey: string = randomUUID()): StockAdjustment => {
    const [numIid, skuId] = externalId.split(':')
    return { externalId, externalIds: { numIid: numIid!, ...(skuId ? { skuId } : {}) }, locationId: 'default', delta, idempotencyKey }
  }
  const skuIds = (item: SimItem) => [...item.skus.keys()]

  it('declares its traits and secrets, and checks a connection with each sign method', async () => {
    expect(secretFields(taobao.config).sort()).toEqual(['appSecret', 'sessionKey'])
    const { ctx } = await connect()
    expect(traitsOf(caps, ctx.config)).toEqual({ compareAndSet: false, multiLocation: false, maxBatch: 20, webhooks: false, shiftingListingPages: true })
    expect(await caps.listLocations(ctx, {})).toEqual([{ id: 'default', name: 'Taobao shop stock', active: true }])

    hub.setNow(beijing('2026-03-15 10:00:00'))
    for (const signMethod of ['md5', 'hmac', 'hmac-sha256'] as const) {
      const { loaded } = await connect({ signMethod })
      const verdict = await runCheck(hub, loaded)
      expect(verdict).toMatchObject({ ok: true, message: 'Signed in to Taobao as tb_shop_sh01' })
      const req = tb.state.requests.at(-1)!
      expect(req).toMatchObject({ api: 'taobao.user.seller.get', signMethod, signatureOk: true, sessionOk: true, outcome: 'ok' })
      expect(req.params).toMatchObject({ app_key: APP_KEY, v: '2.0', format: 'json', simplify: 'true', timestamp: '2026-03-15 10:00:00' })
    }
    const tmall = await connectTmall()
    expect(await runCheck(hub, tmall.loaded)).toMatchObject({ ok: true, message: 'Signed in to Tmall as tm_flagship' })
    // A Taobao (C) shop configured as Tmall is caught before any tmall.* stock call.
    expect(await runCheck(hub, (await connect({ platform: 'tmall' })).loaded)).toMatchObject({ ok: false, message: expect.stringMatching(/a Taobao shop/) })
  })

  it('is refused as auth_failed with a wrong session key or app secret, and never logs either secret', async () => {
    const wrongSession = await connect({ sessionKey: 'not-the-sellers-session-key' })
    const e = await connectorError(caps.listListings(wrongSession.ctx, { cursor: null }))
    expect(e.kind).toBe('auth_failed')
    expect(e.vendorCode).toBe('invalid-sessionkey')
    expect(tb.state.requests.at(-1)).toMatchObject({ sessionOk: false, outcome: '27 invalid-sessionkey' })
    const verdict = await runCheck(hub, wrongSession.loaded)
    expect(verdict.ok).toBe(false)
    expect(verdict.message).toMatch(/invalid-sessionkey/)

    const wrongSecret = await connect({ appSecret: 'a-secret-top-does-not-know' })
    const e2 = await connectorError(caps.readLevels(wrongSecret.ctx, { listings: [{ externalId: '600000000001', externalIds: {} }], locationId: null }))
    expect(e2).toMatchObject({ kind: 'auth_failed', vendorCode: '25' })
    // One attempt each: the vendor refused, repeating cannot help.
    expect((await callsOf(wrongSession.connectionId)).filter((c) => c.operation === 'listListings').map((c) => c.outcome)).toEqual(['auth_failed'])

    const rows = [...(await callsOf(wrongSession.connectionId)), ...(await callsOf(wrongSecret.connectionId))]
    expect(rows.length).toBeGreaterThan(0)
    const logged = JSON.stringify(rows) + hub.logs.text
    for (const s of [SESSION, APP_SECRET, 'not-the-sellers-session-key', 'a-secret-top-does-not-know']) expect(logged).not.toContain(s)
  })

  it('refuses a request whose timestamp is more than 10 minutes off TOP’s clock', async () => {
    const { ctx } = await connect()
    tb.setClock(() => new Date(hub.clock().getTime() + 11 * 60_000))
    const e = await connectorError(caps.listListings(ctx, { cursor: null }))
    expect(e).toMatchObject({ kind: 'permanent', vendorCode: '31' })
    tb.setClock(() => new Date(hub.clock().getTime() + 9 * 60_000))
    await expect(caps.listListings(ctx, { cursor: null })).resolves.toMatchObject({ items: expect.any(Array) })
  })

  describe('listings', () => {
    let shirt: SimItem
    let mug: SimItem
    let fillers: SimItem[]
    beforeAll(() => {
      shirt = tb.addItem({
        title: 'Linen shirt',
        outerId: 'SHIRT',
        skus: [
          { outerId: 'SHIRT-BLK-S', barcode: '6901234567892', quantity: 7, properties: '1627207:28341:颜色分类:黑色;20509:28314:尺码:S' },
          { outerId: 'SHIRT-BLK-M', quantity: 0, properties: '1627207:28341:颜色分类:黑色;20509:28315:尺码:M' },
          { outerId: '', quantity: 3, properties: '1627207:28320:颜色分类:白色;20509:28314:尺码:S' },
        ],
      })
      mug = tb.addItem({ title: 'Celadon mug', outerId: 'MUG-01', barcode: '6909876543210', quantity: 12 })
      tb.addItem({ title: 'Draft item in the warehouse', outerId: 'DRAFT', quantity: 5, onsale: false })
      fillers = Array.from({ length: 200 }, (_, i) => tb.addItem({ title: `Filler ${i}`, skus: [{ outerId: `FILL-${i}`, quantity: i }] }))
    })

    it('lists one listing per SKU (or per item without SKUs), 200 items a page with their SKUs 20 items a call', async () => {
      const { ctx } = await connect()
      const before = tb.state.requests.length
      const first = await caps.listListings(ctx, { cursor: null })
      expect(first.nextCursor).toBe('2')
      const second = await caps.listListings(ctx, { cursor: first.nextCursor })
      expect(second.nextCursor).toBeNull()

      const all: RemoteListing[] = [...first.items, ...second.items]
      expect(all).toHaveLength(3 + 1 + 200)
      const [s, m, w] = skuIds(shirt)
      expect(all.slice(0, 4)).toEqual([
        { externalId: `${shirt.numIid}:${s}`, externalIds: { numIid: shirt.numIid, skuId: s }, sku: 'SHIRT-BLK-S', barcode: '6901234567892', title: 'Linen shirt (黑色 / S)', tracked: true, levels: [{ locationId: 'default', available: 7 }] },
        { externalId: `${shirt.numIid}:${m}`, externalIds: { numIid: shirt.numIid, skuId: m }, sku: 'SHIRT-BLK-M', barcode: null, title: 'Linen shirt (黑色 / M)', tracked: true, levels: [{ locationId: 'default', available: 0 }] },
        { externalId: `${shirt.numIid}:${w}`, externalIds: { numIid: shirt.numIid, skuId: w }, sku: null, barcode: null, title: 'Linen shirt (白色 / S)', tracked: true, levels: [{ locationId: 'default', available: 3 }] },
        { externalId: mug.numIid, externalIds: { numIid: mug.numIid }, sku: 'MUG-01', barcode: '6909876543210', title: 'Celadon mug', tracked: true, levels: [{ locationId: 'default', available: 12 }] },
      ])
      expect(all.at(-1)).toMatchObject({ externalId: `${fillers[199]!.numIid}:${skuIds(fillers[199]!)[0]}`, sku: 'FILL-199', levels: [{ locationId: 'default', available: 199 }] })
      expect(all.some((l) => l.sku === 'DRAFT')).toBe(false)

      const calls = tb.state.requests.slice(before)
      const onsale = calls.filter((c) => c.api === 'taobao.items.onsale.get')
      expect(onsale.map((c) => [c.params.page_no, c.params.page_size, c.params.order_by])).toEqual([
        ['1', '200', 'list_time:asc'],
        ['2', '200', 'list_time:asc'],
      ])
      const details = calls.filter((c) => c.api === 'taobao.items.seller.list.get')
      // 200 items on the first page in batches of 20, then the 2 of the second page.
      expect(details.map((c) => c.params.num_iids!.split(',').length)).toEqual([...Array(10).fill(20), 2])
      expect(details[0]!.params.fields).toBe('num_iid,title,num,outer_id,barcode,sku')
      expect(calls.every((c) => c.signatureOk && c.outcome === 'ok')).toBe(true)
    })

    it('reads current levels of some listings, after a change made on the marketplace', async () => {
      const { ctx } = await connect()
      const [s, m] = skuIds(shirt)
      tb.setQuantity(shirt.numIid, s!, 4)
      tb.setQuantity(mug.numIid, null, 9)
      const levels = await caps.readLevels(ctx, {
        listings: [
          { externalId: `${shirt.numIid}:${s}`, externalIds: { numIid: shirt.numIid, skuId: s! } },
          { externalId: `${shirt.numIid}:${m}`, externalIds: {} },
          { externalId: mug.numIid, externalIds: { numIid: mug.numIid } },
          { externalId: '699999999999', externalIds: {} },
        ],
        locationId: 'default',
      })
      expect(levels).toEqual([
        { externalId: `${shirt.numIid}:${s}`, locationId: 'default', available: 4 },
        { externalId: `${shirt.numIid}:${m}`, locationId: 'default', available: 0 },
        { externalId: mug.numIid, locationId: 'default', available: 9 },
      ])
      expect(tb.state.requests.at(-1)).toMatchObject({ api: 'taobao.items.seller.list.get', params: { num_iids: `${shirt.numIid},${mug.numIid},699999999999` } })
      expect(await caps.readLevels(ctx, { listings: [{ externalId: mug.numIid, externalIds: {} }], locationId: 'elsewhere' })).toEqual([])
    })
  })

  describe('absolute stock writes', () => {
    it('sets SKUs of one item in one taobao.skus.quantity.update and an item without SKUs with taobao.item.quantity.update', async () => {
      const { ctx } = await connect()
      const coat = tb.addItem({ title: 'Coat', skus: [{ outerId: 'COAT-S', quantity: 1 }, { outerId: 'COAT-M', quantity: 2 }, { outerId: 'COAT-L', quantity: 3 }] })
      const scarf = tb.addItem({ title: 'Scarf', outerId: 'SCARF', quantity: 4 })
      const [s, m, l] = skuIds(coat)
      const before = tb.state.requests.length
      const results = await caps.setLevels(ctx, {
        writes: [write(`${coat.numIid}:${s}`, 10), write(scarf.numIid, 0), write(`${coat.numIid}:${l}`, 30), write('699999999998', 5), write(`${coat.numIid}:${m}`, 20)],
      })
      expect(results).toEqual([
        { status: 'ok', quantity: 10 },
        { status: 'ok', quantity: 0 },
        { status: 'ok', quantity: 30 },
        { status: 'failed', code: 'isv.item-not-exist', message: expect.stringContaining('商品不存在'), retryable: false },
        { status: 'ok', quantity: 20 },
      ])
      expect([tb.quantity(coat.numIid, s!), tb.quantity(coat.numIid, m!), tb.quantity(coat.numIid, l!), tb.quantity(scarf.numIid)]).toEqual([10, 20, 30, 0])
      const calls = tb.state.requests.slice(before)
      expect(calls.map((c) => [c.api, c.outcome])).toEqual([
        ['taobao.skus.quantity.update', 'ok'],
        ['taobao.item.quantity.update', 'ok'],
        ['taobao.item.quantity.update', '15 isv.item-not-exist'],
      ])
      expect(calls[0]!.params).toMatchObject({ num_iid: coat.numIid, skuid_quantities: `${s}:10;${l}:30;${m}:20`, type: '1' })
      expect(calls[1]!.params).toMatchObject({ num_iid: scarf.numIid, quantity: '0', type: '1' })
    })

    it('writes 20 SKUs of an item in one call, refuses more than 20 writes, and TOP refuses 21 SKUs in a call', async () => {
      const { ctx } = await connect()
      const big = tb.addItem({ title: 'Socks in 25 colours', skus: Array.from({ length: 25 }, (_, i) => ({ outerId: `SOCK-${i}`, quantity: 1 })) })
      const ids = skuIds(big)
      const before = tb.state.requests.length
      const twenty = ids.slice(0, 20).map((id, i) => write(`${big.numIid}:${id}`, 100 + i))
      const results = await caps.setLevels(ctx, { writes: twenty })
      expect(results.every((r, i) => r.status === 'ok' && r.quantity === 100 + i)).toBe(true)
      expect(tb.state.requests.slice(before).map((c) => c.api)).toEqual(['taobao.skus.quantity.update'])
      expect(ids.slice(0, 20).map((id) => tb.quantity(big.numIid, id))).toEqual(twenty.map((w) => w.quantity))

      const e = await connectorError(caps.setLevels(ctx, { writes: ids.slice(0, 21).map((id) => write(`${big.numIid}:${id}`, 1)) }))
      expect(e.kind).toBe('permanent')
      expect(tb.state.requests.length).toBe(before + 1)

      // The gateway's own limit, asked directly: the whole call is refused and nothing changes.
      const refused = await connectorError(callTop(ctx, 'taobao.skus.quantity.update', { num_iid: big.numIid, skuid_quantities: ids.slice(0, 21).map((id) => `${id}:7`).join(';'), type: 1 }, { operation: 'probe', idempotent: true }))
      expect(refused).toMatchObject({ kind: 'permanent', vendorCode: 'isv.invalid-parameter:skuid_quantities' })
      expect(tb.quantity(big.numIid, ids[0]!)).toBe(100)
    })

    it('writes Tmall stock with tmall.item.quantity.update: sku_quantities JSON, item_quantity, options type 1', async () => {
      const { ctx } = await connectTmall()
      const bag = tm.addItem({ title: 'Tote bag', skus: [{ outerId: 'TOTE-RED', quantity: 5 }, { outerId: 'TOTE-BLU', quantity: 6 }] })
      const pen = tm.addItem({ title: 'Pen', outerId: 'PEN', quantity: 50 })
      const [r, b] = skuIds(bag)
      const before = tm.state.requests.length
      const results = await caps.setLevels(ctx, { writes: [write(`${bag.numIid}:${r}`, 0), write(`${bag.numIid}:${b}`, 9), write(pen.numIid, 44)] })
      expect(results).toEqual([
        { status: 'ok', quantity: 0 },
        { status: 'ok', quantity: 9 },
        { status: 'ok', quantity: 44 },
      ])
      expect([tm.quantity(bag.numIid, r!), tm.quantity(bag.numIid, b!), tm.quantity(pen.numIid)]).toEqual([0, 9, 44])
      const calls = tm.state.requests.slice(before)
      expect(calls.map((c) => c.api)).toEqual(['tmall.item.quantity.update', 'tmall.item.quantity.update'])
      expect(calls[0]!.params.item_id).toBe(bag.numIid)
      expect(JSON.parse(calls[0]!.params.sku_quantities!)).toEqual([
        { sku_id: Number(r), quantity: 0 },
        { sku_id: Number(b), quantity: 9 },
      ])
      expect(JSON.parse(calls[0]!.params.options!)).toEqual({ type: 1 })
      expect(calls[1]!.params).toMatchObject({ item_id: pen.numIid, item_quantity: '44' })

      const many = tm.addItem({ title: 'Buttons', skus: Array.from({ length: 21 }, (_, i) => ({ outerId: `BTN-${i}`, quantity: 0 })) })
      const twenty = skuIds(many).slice(0, 20).map((id) => write(`${many.numIid}:${id}`, 2))
      expect((await caps.setLevels(ctx, { writes: twenty })).every((x) => x.status === 'ok')).toBe(true)
      expect(JSON.parse(tm.state.requests.at(-1)!.params.sku_quantities!)).toHaveLength(20)
      await expect(caps.setLevels(ctx, { writes: skuIds(many).map((id) => write(`${many.numIid}:${id}`, 2)) })).rejects.toThrow(/at most 20/)
      const refused = await connectorError(
        callTop(ctx, 'tmall.item.quantity.update', { item_id: many.numIid, sku_quantities: JSON.stringify(skuIds(many).map((id) => ({ sku_id: Number(id), quantity: 1 }))), options: '{"type":1}' }, { operation: 'probe', idempotent: true }),
      )
      expect(refused).toMatchObject({ kind: 'permanent', vendorCode: 'isv.invalid-parameter:sku_quantities' })
    })

    it('fails only the writes of an item whose call fails, as retryable when TOP’s backend is down', async () => {
      const { ctx } = await connect()
      const hat = tb.addItem({ title: 'Hat', skus: [{ outerId: 'HAT', quantity: 1 }] })
      tb.state.down = true
      const [result] = await caps.setLevels(ctx, { writes: [write(`${hat.numIid}:${skuIds(hat)[0]}`, 8)] })
      expect(result).toMatchObject({ status: 'failed', code: 'isp.top-remote-connection-timeout', retryable: true })
      // Safe to repeat, so the client tried it again before giving up.
      expect(tb.state.requests.slice(-4).map((c) => c.outcome)).toEqual(Array(4).fill('15 isp.top-remote-connection-timeout'))
      expect(tb.quantity(hat.numIid, skuIds(hat)[0]!)).toBe(1)
    })
  })

  describe('incremental stock writes', () => {
    it('applies a Tmall change once per idempotency key (outer_biz_key) and clamps at 0', async () => {
      const { ctx } = await connectTmall()
      const cup = tm.addItem({ title: 'Cup', skus: [{ outerId: 'CUP-1', quantity: 10 }, { outerId: 'CUP-2', quantity: 2 }] })
      const [c1, c2] = skuIds(cup)
      const key = 'conn-7:outbox-event-991'
      const change = adjust(`${cup.numIid}:${c1}`, -3, key)
      expect(await caps.adjustLevels!(ctx, { adjustments: [change] })).toEqual([{ status: 'ok', quantity: 7 }])
      const sent = tm.state.requests.filter((c) => c.api === 'tmall.item.quantity.update').at(-1)!
      const bizKey = createHash('sha1').update(key).digest('hex').slice(0, 32)
      expect(JSON.parse(sent.params.options!)).toEqual({ type: 2, outer_biz_key: bizKey })
      expect(JSON.parse(sent.params.sku_quantities!)).toEqual([{ sku_id: Number(c1), quantity: -3 }])

      // The job retried the same change: TOP recognises the key and does not take 3 again.
      expect(await caps.adjustLevels!(ctx, { adjustments: [change] })).toEqual([{ status: 'ok', quantity: 7 }])
      expect(tm.quantity(cup.numIid, c1!)).toBe(7)
      // A new change with its own key applies, and a decrement past the stock stops at 0.
      expect(await caps.adjustLevels!(ctx, { adjustments: [adjust(`${cup.numIid}:${c1}`, -3), adjust(`${cup.numIid}:${c2}`, -5)] })).toEqual([
        { status: 'ok', quantity: 4 },
        { status: 'ok', quantity: 0 },
      ])
      expect([tm.quantity(cup.numIid, c1!), tm.quantity(cup.numIid, c2!)]).toEqual([4, 0])
      const e = await connectorError(callTop(ctx, 'tmall.item.quantity.update', { item_id: cup.numIid, sku_quantities: JSON.stringify([{ sku_id: Number(c1), quantity: 1 }]), options: JSON.stringify({ type: 2, outer_biz_key: 'not-hex!' }) }, { operation: 'probe', idempotent: true }))
      expect(e).toMatchObject({ kind: 'permanent', vendorCode: 'isv.invalid-parameter:options' })
    })

    it('changes Taobao stock with taobao.item.quantity.update type 2, one SKU a call, clamped at 0', async () => {
      const { ctx } = await connect()
      const lamp = tb.addItem({ title: 'Lamp', skus: [{ outerId: 'LAMP-W', quantity: 4 }, { outerId: 'LAMP-B', quantity: 1 }] })
      const vase = tb.addItem({ title: 'Vase', outerId: 'VASE', quantity: 2 })
      const [w, b] = skuIds(lamp)
      const before = tb.state.requests.length
      const results = await caps.adjustLevels!(ctx, { adjustments: [adjust(`${lamp.numIid}:${w}`, 3), adjust(`${lamp.numIid}:${b}`, -4), adjust(vase.numIid, -1)] })
      expect(results).toEqual([
        { status: 'ok', quantity: 7 },
        { status: 'ok', quantity: 0 },
        { status: 'ok', quantity: 1 },
      ])
      const calls = tb.state.requests.slice(before)
      expect(calls.map((c) => [c.api, c.params.sku_id ?? null, c.params.quantity, c.params.type])).toEqual([
        ['taobao.item.quantity.update', w, '3', '2'],
        ['taobao.item.quantity.update', b, '-4', '2'],
        ['taobao.item.quantity.update', null, '-1', '2'],
      ])
    })
  })

  describe('flow control', () => {
    it('waits out a TOP ban of the seconds sub_msg names, then succeeds', async () => {
      const { connectionId: id, ctx } = await connect()
      const desk = tb.addItem({ title: 'Desk', outerId: 'DESK', quantity: 3 })
      tb.state.rateLimitNext = 1
      const started = Date.now()
      const levels = await caps.readLevels(ctx, { listings: [{ externalId: desk.numIid, externalIds: {} }], locationId: null })
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
      expect(levels).toEqual([{ externalId: desk.numIid, locationId: 'default', available: 3 }])
      expect(tb.state.requests.slice(-2).map((c) => c.outcome)).toEqual(['7 accesscontrol.limited-by-app-access-count', 'ok'])
      expect((await callsOf(id)).map((c) => [c.operation, c.statusCode, c.outcome])).toEqual([
        ['readLevels', 200, 'rate_limited'],
        ['readLevels', 200, 'ok'],
      ])
    })

    it('gives up as rate_limited, with the wait TOP asked for, when the ban outlasts the longest wait', async () => {
      const long = taobaoSandbox({ appKey: APP_KEY, appSecret: APP_SECRET, sessionKey: SESSION, banSeconds: 120, clock, gatewayUrl: 'https://gw.banned-sandbox.test/router/rest' })
      vendor.server.use(...long.handlers)
      long.state.rateLimitNext = 1
      const { ctx } = await connect({ gatewayUrl: 'https://gw.banned-sandbox.test/router/rest' })
      const e = await connectorError(caps.listListings(ctx, { cursor: null }))
      expect(e).toMatchObject({ kind: 'rate_limited', vendorCode: 'accesscontrol.limited-by-app-access-count', retryAfterMs: 120_000 })
      expect(long.state.requests).toHaveLength(1)
    })
  })

  describe('trades', () => {
    it('polls trades modified since a time across two days, oldest first, with their refunds and closures', async () => {
      hub.setNow(beijing('2026-03-15 10:00:00'))
      const { ctx } = await connect()
      const tea = tb.addItem({ title: 'Tea', skus: [{ outerId: 'TEA-100G', quantity: 20 }, { outerId: 'TEA-250G', quantity: 20 }] })
      const pot = tb.addItem({ title: 'Teapot', outerId: 'POT', quantity: 5 })
      const [small, large] = skuIds(tea)
      tb.placeTrade({ lines: [{ numIid: pot.numIid, num: 1 }], at: beijing('2026-03-14 07:59:59') })
      const a = tb.placeTrade({ lines: [{ numIid: tea.numIid, skuId: small, num: 2 }, { numIid: pot.numIid, num: 1 }], at: beijing('2026-03-14 09:00:00') })
      const b = tb.placeTrade({ lines: [{ numIid: tea.numIid, skuId: large, num: 3 }], status: 'WAIT_BUYER_PAY', at: beijing('2026-03-14 22:00:00') })
      const c = tb.placeTrade({ lines: [{ numIid: tea.numIid, skuId: small, num: 1 }, { numIid: tea.numIid, skuId: large, num: 4 }], at: beijing('2026-03-14 23:30:00') })
      expect(tb.quantity(tea.numIid, large!)).toBe(13)
      tb.closeTrade(b.tid, { at: beijing('2026-03-15 08:00:00') })
      expect(tb.quantity(tea.numIid, large!)).toBe(16)
      tb.refundOrder(c.tid, c.orders[1]!.oid, { at: beijing('2026-03-15 09:00:00') })
      tb.setTradeStatus(c.tid, 'WAIT_BUYER_CONFIRM_GOODS', beijing('2026-03-15 09:30:00'))

      const before = tb.state.requests.length
      const orders: RemoteOrder[] = []
      let cursor: string | null = null
      do {
        const page: Page<RemoteOrder> = await caps.listOrders(ctx, { updatedSince: beijing('2026-03-14 08:00:00'), cursor })
        orders.push(...page.items)
        cursor = page.nextCursor
      } while (cursor)

      expect(orders.map((o) => o.id)).toEqual([a.tid, b.tid, c.tid])
      // A tid is past 2^53: read from tid_str, every digit kept.
      expect(a.tid).toMatch(/^\d{19}$/)
      expect(orders[0]).toEqual({
        id: a.tid,
        name: a.tid,
        status: 'open',
        updatedAt: '2026-03-14T01:00:00.000Z',
        placedAt: '2026-03-14T01:00:00.000Z',
        locationId: null,
        pickupLocationId: null,
        lines: [
          { id: a.orders[0]!.oid, sku: 'TEA-100G', externalId: `${tea.numIid}:${small}`, quantity: 2 },
          { id: a.orders[1]!.oid, sku: 'POT', externalId: pot.numIid, quantity: 1 },
        ],
      })
      expect(orders[1]).toMatchObject({ status: 'cancelled', updatedAt: beijing('2026-03-15 08:00:00').toISOString(), lines: [{ sku: 'TEA-250G', quantity: 3 }] })
      expect(orders[2]).toMatchObject({
        status: 'fulfilled',
        updatedAt: beijing('2026-03-15 09:30:00').toISOString(),
        lines: [
          { id: c.orders[0]!.oid, sku: 'TEA-100G', quantity: 1 },
          // Refunded: the buyer takes none of it.
          { id: c.orders[1]!.oid, sku: 'TEA-250G', quantity: 0 },
        ],
      })

      const calls = tb.state.requests.slice(before)
      expect(calls.every((x) => x.api === 'taobao.trades.sold.increment.get' && x.outcome === 'ok')).toBe(true)
      expect(calls.map((x) => [x.params.start_modified, x.params.end_modified])).toEqual([
        ['2026-03-14 08:00:00', '2026-03-15 07:59:59'],
        ['2026-03-15 08:00:00', '2026-03-15 10:00:00'],
      ])
      expect(calls[0]!.params.fields).toContain('orders.refund_status')
      expect(calls[0]!.params.fields).toContain('tid_str')

      expect(await caps.getOrder(ctx, { id: c.tid })).toEqual(orders[2])
      expect(await caps.getOrder(ctx, { id: '3900000000000999999' })).toBeNull()
    })

    it('walks a busy day from its last page back to its first, so the result is oldest first', async () => {
      hub.setNow(beijing('2026-04-02 12:00:00'))
      const { ctx } = await connect()
      const rice = tb.addItem({ title: 'Rice', outerId: 'RICE', quantity: 1000 })
      const placed = Array.from({ length: 120 }, (_, i) => tb.placeTrade({ lines: [{ numIid: rice.numIid, num: 1 }], at: new Date(beijing('2026-04-01 08:00:00').getTime() + i * 60_000) }))
      const before = tb.state.requests.length
      const orders: RemoteOrder[] = []
      let cursor: string | null = null
      do {
        const page: Page<RemoteOrder> = await caps.listOrders(ctx, { updatedSince: beijing('2026-04-01 00:00:00'), cursor })
        orders.push(...page.items)
        cursor = page.nextCursor
      } while (cursor)
      expect(orders.map((o) => o.id)).toEqual(placed.map((t) => t.tid))
      const calls = tb.state.requests.slice(before)
      // The probe for the total, then pages 3, 2 and 1 of 50; then the (empty) rest of today.
      expect(calls.map((x) => [x.params.page_no, x.params.page_size, x.params.use_has_next])).toEqual([
        ['1', '50', 'false'],
        ['3', '50', 'true'],
        ['2', '50', 'true'],
        ['1', '50', 'true'],
        ['1', '50', 'false'],
      ])
      expect(tb.quantity(rice.numIid)).toBe(880)
    })
  })
})
