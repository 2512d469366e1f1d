import { readFileSync } from 'node:fs'
import iconv from 'iconv-lite'
import { parseStringPromise } from 'xml2js'
import { describe, expect, it } from 'vitest'
import { defaultProfile, type KitchenTicket, type PrinterProfile, type ReceiptModel } from '../../src/devices/types.ts'
import { displayWidth, kitchenBlocks, leftRight, printable, receiptBlocks, wrap, type Block } from '../../src/devices/render/text.ts'
import { code128Escpos, drawerKickEscpos, encodeText, kitchenEscpos, receiptEscpos, renderEscpos } from '../../src/devices/render/escpos.ts'
import { drawerKickEpos, eposPulse, receiptEpos, renderEposXml } from '../../src/devices/render/epos.ts'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/devices/${name}`, import.meta.url))
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const gbk = (s: string) => iconv.encode(s, 'gbk')

/** A Chinese supermarket sale: a bottled drink, weighed apples at 9 %, milk with a member price, WeChat + cash. */
const model: ReceiptModel = {
  kind: 'sale',
  reprint: false,
  merchantName: '鲜果超市',
  storeName: '鲜果超市 徐汇店',
  storeAddress: '上海市徐汇区漕溪北路 88 号',
  storePhone: '021-6464 8888',
  registerCode: '01',
  receiptNo: 'S01-20261202-01-0042',
  originalReceiptNo: null,
  printedAt: '2026-12-02 11:42',
  cashier: '王小明',
  currency: 'CNY',
  lines: [
    { name: '农夫山泉 550ml', sku: '6921168509256', quantity: '2', unitPrice: 250, priceUnit: '', gross: 500, discount: 0, total: 500, discountLabels: [] },
    { name: '散装苹果', sku: 'P-APPLE', quantity: '0.350kg', unitPrice: 1280, priceUnit: '', gross: 448, discount: 0, total: 448, discountLabels: [] },
    { name: '伊利纯牛奶 250ml×24', sku: '6907992500010', quantity: '1', unitPrice: 6990, priceUnit: '', gross: 6990, discount: 700, total: 6290, discountLabels: ['会员价 Member price'] },
  ],
  subtotal: 7938,
  discountTotal: 700,
  taxes: [
    { rateBp: 1300, amount: 782 },
    { rateBp: 900, amount: 37 },
  ],
  taxTotal: 819,
  taxInclusive: true,
  total: 7238,
  rounding: -8,
  tenders: [
    { kind: 'wechat', label: '微信支付 WeChat Pay', amount: 5000, received: null },
    { kind: 'cash', label: '现金 Cash', amount: 2230, received: 5000 },
  ],
  change: 2770,
  member: { cardNo: '8800123456781234', name: '李娜', pointsEarned: 72, pointsRedeemed: 0, pointsBalance: 1530 },
  qr: 'https://r.tillbridge.example/e/S01-20261202-01-0042?t=a&b',
  footer: ['谢谢惠顾 Thank you', '退换货请凭小票 <7天> & 吊牌'],
}

const ticket: KitchenTicket = {
  reprint: false,
  storeName: '鲜果超市 徐汇店',
  station: '热菜 Hot',
  receiptNo: 'S01-20261202-01-0042',
  printedAt: '2026-12-02 11:42',
  lines: [
    { name: '宫保鸡丁', quantity: '2', note: '少辣' },
    { name: '鱼香肉丝 Yu Xiang Pork', quantity: '1', note: null },
  ],
}

const p80 = defaultProfile(80)
const p58 = defaultProfile(58)
const texts = (blocks: Block[]) => blocks.flatMap((b) => (b.type === 'text' ? [b] : []))

describe('text layout', () => {
  it('counts a CJK or full-width glyph as two columns, and a 2-byte code on a GBK printer as two', () => {
    expect(displayWidth('中文ab')).toBe(6)
    expect(displayWidth('ＡＢ￥')).toBe(6)
    expect(displayWidth('550ml')).toBe(5)
    // "×" is narrow in Unicode but a 2-byte GBK code, which a Chinese-mode printer prints full width.
    expect(displayWidth('×')).toBe(1)
    expect(displayWidth('×', 'gbk')).toBe(2)
    expect(displayWidth('伊利纯牛奶 250ml×24', 'gbk')).toBe(20)
  })

  it('wraps by display width, breaking between Chinese characters and at spaces', () => {
    expect(wrap('农夫山泉天然饮用水大瓶装家庭装', 16)).toEqual(['农夫山泉天然饮用', '水大瓶装家庭装'])
    expect(wrap('Organic Fuji apples from Yantai', 16)).toEqual(['Organic Fuji', 'apples from', 'Yantai'])
    expect(wrap('  indented', 16)).toEqual(['  indented'])
    for (const line of wrap('云南普洱熟茶 Pu-erh tea cake 357g 七子饼', 20, 'gbk')) expect(displayWidth(line, 'gbk')).toBeLessThanOrEqual(20)
  })

  it('puts a Chinese label and an amount on one line of exactly the paper width', () => {
    for (const columns of [32, 48]) {
      const [line, ...rest] = leftRight('会员价 Member price', '-7.00', columns, 'gbk')
      expect(rest).toEqual([])
      expect(displayWidth(line!, 'gbk')).toBe(columns)
      expect(gbk(line!).length).toBe(columns)
      expect(line!.endsWith(' -7.00')).toBe(true)
    }
    expect(leftRight('一二三四五六七八九十一二三四五', '123.45', 32)).toEqual(['一二三四五六七八九十一二三四五', '                          123.45'])
  })

  it('maps what a 2-byte printer font cannot print: half-width ¥ to ￥, 4-byte GB18030 and lone high bytes to ?', () => {
    expect(printable('¥12', 'gbk')).toBe('￥12')
    expect(encodeText('¥', 'gb18030')).toEqual(hex('A3 A4'))
    expect(encodeText('𠀀', 'gb18030')).toEqual(hex('3F'))
    expect(encodeText('€', 'gbk')).toEqual(hex('3F'))
    expect(encodeText('€', 'cp858')).toEqual(hex('D5'))
    // A name cannot smuggle commands to the printer.
    expect(encodeText('可乐\x1bp\x00', 'gbk')).toEqual(Buffer.concat([gbk('可乐'), hex('20 70 20')]))
  })

  it('fits every line of a receipt to 80 mm and to 58 mm paper', () => {
    for (const profile of [p80, p58]) {
      const blocks = receiptBlocks(model, profile)
      for (const b of texts(blocks)) expect(displayWidth(b.text, 'gbk')).toBeLessThanOrEqual(profile.columns / b.size)
      // Every line that ends in an amount is a label-and-amount pair across the full width.
      const amounts = texts(blocks).filter((b) => /\d\.\d\d$/.test(b.text))
      expect(amounts.length).toBeGreaterThan(10)
      for (const b of amounts) expect(gbk(b.text).length).toBe(profile.columns / b.size)
      expect(blocks.find((b) => b.type === 'qr')).toEqual({ type: 'qr', data: model.qr, moduleSize: profile.paperWidth === 58 ? 4 : 6 })
    }
    const narrow = texts(receiptBlocks(model, p58)).map((b) => b.text)
    expect(narrow).toContain('以上价格已含税 Prices include')
    expect(narrow).toContain('tax')
  })

  it('lays a receipt out in order: header, items with discounts, totals, tenders and change, member, QR, footer, cut', () => {
    const blocks = receiptBlocks(model, p80)
    const lines = texts(blocks).map((b) => b.text.trim().replace(/ {2,}/g, ' | '))
    expect(lines).toEqual([
      '鲜果超市',
      '鲜果超市 徐汇店',
      '上海市徐汇区漕溪北路 88 号',
      '电话 Tel 021-6464 8888',
      '销售单 SALE',
      '单号 No. | S01-20261202-01-0042',
      '收银台 Till | 01',
      '收银员 Cashier | 王小明',
      '时间 Time | 2026-12-02 11:42',
      '农夫山泉 550ml',
      '2 x 2.50 | 5.00',
      '散装苹果',
      '0.350kg x 12.80 | 4.48',
      '伊利纯牛奶 250ml×24',
      '1 x 69.90 | 69.90',
      '会员价 Member price | -7.00',
      '小计 Subtotal | 79.38',
      '优惠 Discount | -7.00',
      '税额 Tax 13% | 7.82',
      '税额 Tax 9% | 0.37',
      '税额合计 Tax total | 8.19',
      '以上价格已含税 Prices include tax',
      '抹零 Rounding | -0.08',
      '合计 TOTAL | 72.30',
      '微信支付 WeChat Pay | 50.00',
      '现金 Cash | 22.30',
      '实收 Received | 50.00',
      '找零 Change | 27.70',
      '会员 Member | ****1234',
      '姓名 Name | 李娜',
      '本次积分 Points earned | 72',
      '积分余额 Points balance | 1530',
      '谢谢惠顾 Thank you',
      '退换货请凭小票 <7天> & 吊牌',
    ])
    expect(texts(blocks)[0]).toMatchObject({ align: 'center', bold: true, size: 2 })
    expect(texts(blocks).find((b) => b.text.startsWith('合计 TOTAL'))).toMatchObject({ bold: true, size: 2 })
    expect(blocks.slice(-2)).toEqual([{ type: 'feed', lines: 2 }, { type: 'cut' }])
  })

  it('a refund shows its title, the receipt it refunds and a refund total', () => {
    const refund: ReceiptModel = { ...model, kind: 'refund', receiptNo: 'S01-20261203-01-R0001', originalReceiptNo: 'S01-20261202-01-0042', change: 0, rounding: 0 }
    const lines = texts(receiptBlocks(refund, p80)).map((b) => b.text.replace(/ {2,}/g, ' | '))
    expect(lines).toContain('退货单 REFUND')
    expect(lines).toContain('原单号 Original | S01-20261202-01-0042')
    expect(lines).toContain('退款合计 REFUND | 72.38')
    expect(lines).not.toContain('销售单 SALE')
    expect(lines.some((l) => l.startsWith('本次积分'))).toBe(false)
  })

  it('prints English-only or traditional labels for those locales', () => {
    expect(texts(receiptBlocks(model, p80, 'en')).map((b) => b.text)).toContain(`TOTAL${' '.repeat(14)}72.30`)
    const big5 = defaultProfile(80, 'big5')
    expect(texts(receiptBlocks(model, big5, 'zh-TW')).some((b) => b.text.startsWith('合計 TOTAL'))).toBe(true)
  })
})

describe('ESC/POS', () => {
  it('renders the Chinese receipt byte for byte as the golden file', () => {
    const bytes = receiptEscpos(model, p80)
    expect(bytes.toString('hex')).toBe(fixture('receipt-80mm-gbk.escpos').toString('hex'))
  })

  it('starts with ESC @ and FS &, encodes Chinese in GBK and styles the total bold and double size', () => {
    const bytes = receiptEscpos(model, p80)
    expect(bytes.subarray(0, 4)).toEqual(hex('1B 40 1C 26'))
    expect(encodeText('中文', 'gbk')).toEqual(hex('D6 D0 CE C4'))
    expect(bytes.includes(Buffer.concat([hex('1B 45 01 1D 21 11'), hex('BA CF BC C6'), Buffer.from(' TOTAL')]))).toBe(true)
    expect(bytes.includes(gbk('农夫山泉 550ml\n'))).toBe(true)
    expect(bytes.includes(Buffer.from('-'.repeat(48) + '\n'))).toBe(true)
    expect(bytes.subarray(-7)).toEqual(hex('1B 64 02 1D 56 42 00'))
  })

  it('prints the QR code with GS ( k: model 2, module size, level M, store with pL pH = k + 3, print', () => {
    const bytes = receiptEscpos(model, p80)
    const data = Buffer.from(model.qr!)
    const k = data.length + 3
    const qr = Buffer.concat([
      hex('1B 61 01'),
      hex('1D 28 6B 04 00 31 41 32 00'),
      hex('1D 28 6B 03 00 31 43 06'),
      hex('1D 28 6B 03 00 31 45 31'),
      Buffer.from([0x1d, 0x28, 0x6b, k, 0x00, 0x31, 0x50, 0x30]),
      data,
      hex('1D 28 6B 03 00 31 51 30'),
    ])
    expect(bytes.includes(qr)).toBe(true)
    const long = renderEscpos([{ type: 'qr', data: 'x'.repeat(300), moduleSize: 4 }], p58)
    expect(long.includes(hex('1D 28 6B 2F 01 31 50 30'))).toBe(true) // 303 = 0x012F
  })

  it('a reprint is the same receipt with an emphasized, centred REPRINT marker under the header', () => {
    const original = receiptEscpos(model, p80)
    const reprint = receiptEscpos({ ...model, reprint: true }, p80)
    const marker = gbk('重印 REPRINT\n')
    expect(original.includes(marker)).toBe(false)
    const at = reprint.indexOf(Buffer.concat([hex('1B 45 01'), marker]))
    expect(at).toBeGreaterThan(0)
    expect(Buffer.concat([reprint.subarray(0, at + 3), reprint.subarray(at + 3 + marker.length)]).toString('hex')).toBe(original.toString('hex'))
  })

  it('58 mm paper gets 32-column lines and a smaller QR module', () => {
    const bytes = receiptEscpos(model, p58)
    expect(bytes.includes(Buffer.from('-'.repeat(32) + '\n'))).toBe(true)
    expect(bytes.includes(Buffer.from('-'.repeat(33)))).toBe(false)
    expect(bytes.includes(hex('1D 28 6B 03 00 31 43 04'))).toBe(true)
    const body = bytes.toString('latin1').split('\n')
    expect(body.some((l) => l.length === 32 && l.endsWith('27.70'))).toBe(true)
  })

  it('a Big5 printer gets 中文 as A4 A4 A4 E5, after FS &', () => {
    const big5 = defaultProfile(58, 'big5')
    expect(encodeText('中文', 'big5')).toEqual(hex('A4 A4 A4 E5'))
    expect(renderEscpos([{ type: 'text', text: '中文', align: 'left', bold: false, size: 1 }], big5)).toEqual(hex('1B 40 1C 26 A4 A4 A4 E5 0A'))
  })

  it('a Western printer leaves Chinese mode with FS . and selects its code page', () => {
    const cp858: PrinterProfile = { ...defaultProfile(80, 'cp858') }
    expect(cp858.cjkMode).toBe(false)
    expect(renderEscpos([{ type: 'text', text: '€5', align: 'right', bold: false, size: 1 }], cp858)).toEqual(hex('1B 40 1C 2E 1B 74 13 1B 61 02 D5 35 0A'))
  })

  it('kicks the drawer with ESC = 1 then ESC p m 25 25 (50 ms), m=0 for pin 2 and m=1 for pin 5', () => {
    expect(drawerKickEscpos(2)).toEqual(hex('1B 3D 01 1B 70 00 19 19'))
    expect(drawerKickEscpos(5)).toEqual(hex('1B 3D 01 1B 70 01 19 19'))
  })

  it('builds a CODE128 barcode in code set B, escaping a brace', () => {
    expect(code128Escpos('S01-0042')).toEqual(hex('1D 48 02 1D 68 50 1D 77 02 1D 6B 49 0A 7B 42 53 30 31 2D 30 30 34 32'))
    expect(code128Escpos('a{b').subarray(-6)).toEqual(Buffer.from('{Ba{{b'))
    expect(() => code128Escpos('中文')).toThrow(RangeError)
  })

  it('prints a kitchen ticket with a big station name and big quantities, byte for byte as the golden file', () => {
    const bytes = kitchenEscpos(ticket, p58)
    expect(bytes.toString('hex')).toBe(fixture('kitchen-58mm-gbk.escpos').toString('hex'))
    expect(bytes.includes(Buffer.concat([hex('1B 61 01 1B 45 01 1D 21 11'), gbk('热菜 Hot\n')]))).toBe(true)
    expect(bytes.includes(Buffer.concat([hex('1B 45 01 1D 21 11'), gbk('2 x 宫保鸡丁\n')]))).toBe(true)
    expect(bytes.includes(gbk('  备注 Note: 少辣\n'))).toBe(true)
    const reprint = texts(kitchenBlocks({ ...ticket, reprint: true }, p58))
    expect(reprint[0]).toEqual({ type: 'text', text: '重印 REPRINT', align: 'center', bold: true, size: 1 })
    for (const b of reprint) expect(displayWidth(b.text, 'gbk')).toBeLessThanOrEqual(32 / b.size)
  })
})

describe('ePOS-Print XML', () => {
  it('renders the Chinese receipt as the golden SOAP envelope, escaped, with no xmlns="" anywhere', async () => {
    const xml = receiptEpos(model, p80)
    expect(xml).toBe(fixture('receipt-80mm.epos.xml').toString('utf8'))
    expect(xml).not.toContain('xmlns=""')
    expect(xml.startsWith('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><epos-print xmlns="http://www.epson-pos.com/schemas/2011/03/epos-print">')).toBe(true)
    expect(xml).toContain('<text lang="zh-cn" align="center" em="false" dw="false" dh="false">退换货请凭小票 &lt;7天&gt; &amp; 吊牌&#10;</text>')
    expect(xml).toContain('<text lang="zh-cn" align="left" em="true" dw="true" dh="true">合计 TOTAL         72.30&#10;</text>')
    expect(xml).toContain('<symbol type="qrcode_model_2" level="level_m" width="6">https://r.tillbridge.example/e/S01-20261202-01-0042?t=a&amp;b</symbol>')
    expect(xml.endsWith('<feed line="2"/><cut type="feed"/></epos-print></s:Body></s:Envelope>')).toBe(true)
    const doc = await parseStringPromise(xml)
    const print = doc['s:Envelope']['s:Body'][0]['epos-print'][0]
    expect(print.$.xmlns).toBe('http://www.epson-pos.com/schemas/2011/03/epos-print')
    expect(print.text.map((t: any) => (typeof t === 'string' ? t : (t._ ?? ''))).join('')).toContain('退换货请凭小票 <7天> & 吊牌\n')
  })

  it('prints the same lines as ESC/POS', () => {
    const xml = receiptEpos(model, p80)
    for (const b of texts(receiptBlocks(model, p80))) expect(xml).toContain(`>${b.text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')}&#10;</text>`)
  })

  it('pulses drawer_1 for pin 2 and drawer_2 for pin 5, 100 ms, in a full envelope', () => {
    expect(eposPulse(2)).toBe('<pulse drawer="drawer_1" time="pulse_100"/>')
    expect(eposPulse(5)).toBe('<pulse drawer="drawer_2" time="pulse_100"/>')
    expect(drawerKickEpos(5)).toBe(
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><epos-print xmlns="http://www.epson-pos.com/schemas/2011/03/epos-print"><pulse drawer="drawer_2" time="pulse_100"/></epos-print></s:Body></s:Envelope>',
    )
  })

  it('uses the Big5 font for a Big5 printer and escapes quotes in text', () => {
    const xml = renderEposXml([{ type: 'text', text: '"中文" \'ok\'', align: 'right', bold: false, size: 1 }], defaultProfile(58, 'big5'))
    expect(xml).toContain('<text lang="zh-tw" align="right" em="false" dw="false" dh="false">&quot;中文&quot; &apos;ok&apos;&#10;</text>')
  })
})
