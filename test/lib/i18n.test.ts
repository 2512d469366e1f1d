import { describe, expect, it } from 'vitest'
import { currentLocale, pick, withLocale } from '../../src/lib/i18n/context.ts'
import { fromAcceptLanguage, resolveLocale } from '../../src/lib/i18n/locale.ts'
import { CATALOG_CODES, localizeMessage } from '../../src/lib/i18n/messages.ts'
import { toTraditional } from '../../src/lib/i18n/traditional.ts'
import { localizeHeader } from '../../src/core/reports/csv.ts'
import { formatDecimal, formatMoney, minorUnitsPer, parseMoney } from '../../src/lib/money.ts'

describe('choosing a language', () => {
  it('reads Accept-Language by quality: Taiwan, Hong Kong, Macau and Hant are Traditional, other zh Simplified', () => {
    expect(fromAcceptLanguage('zh-TW')).toBe('zh-TW')
    expect(fromAcceptLanguage('zh-HK,zh;q=0.9')).toBe('zh-TW')
    expect(fromAcceptLanguage('zh-Hant-MO')).toBe('zh-TW')
    expect(fromAcceptLanguage('zh_MO')).toBe('zh-TW')
    expect(fromAcceptLanguage('zh')).toBe('zh-CN')
    expect(fromAcceptLanguage('zh-Hans-SG')).toBe('zh-CN')
    expect(fromAcceptLanguage('en-GB,en;q=0.9')).toBe('en')
    expect(fromAcceptLanguage('en;q=0.4, zh-TW;q=0.8')).toBe('zh-TW')
    expect(fromAcceptLanguage('fr-FR, de;q=0.9, zh-CN;q=0.1')).toBe('zh-CN')
    expect(fromAcceptLanguage('zh-TW;q=0, en')).toBe('en')
    expect(fromAcceptLanguage('fr, de')).toBeUndefined()
    expect(fromAcceptLanguage('*')).toBeUndefined()
    expect(fromAcceptLanguage('')).toBeUndefined()
    expect(fromAcceptLanguage(undefined)).toBeUndefined()
  })

  it('takes the user’s own language, else the merchant’s, else the browser’s, else English', () => {
    expect(resolveLocale({ user: 'en', merchant: 'zh-CN', acceptLanguage: 'zh-TW' })).toBe('en')
    expect(resolveLocale({ user: null, merchant: 'zh-TW', acceptLanguage: 'en' })).toBe('zh-TW')
    expect(resolveLocale({ user: 'fr', merchant: 'nope', acceptLanguage: 'zh-HK' })).toBe('zh-TW')
    expect(resolveLocale({})).toBe('en')
  })

  it('keeps the locale of each request apart across awaits', async () => {
    const seen = await Promise.all(
      (['en', 'zh-CN', 'zh-TW'] as const).map((l, i) =>
        withLocale(l, async () => {
          await new Promise((r) => setTimeout(r, 30 - i * 10))
          return [currentLocale(), pick('Reconciliation', '对账')]
        }),
      ),
    )
    expect(seen).toEqual([
      ['en', 'Reconciliation'],
      ['zh-CN', '对账'],
      ['zh-TW', '對賬'],
    ])
  })
})

describe('Traditional Chinese from the Simplified text', () => {
  it('converts characters and Taiwanese phrasing, and leaves other text alone', () => {
    expect(toTraditional('对账')).toBe('對賬')
    expect(toTraditional('库存同步')).toBe('庫存同步')
    expect(toTraditional('登录')).toBe('登入')
    expect(toTraditional('Stock sync 2026-01-05')).toBe('Stock sync 2026-01-05')
    // Cached answers are the same answers.
    expect(toTraditional('对账')).toBe('對賬')
  })
})

describe('error messages', () => {
  it('covers the errors people meet most', () => {
    for (const code of ['validation_failed', 'unauthenticated', 'invalid_token', 'permission_denied', 'not_found', 'key_scope', 'idempotency_key_reused', 'idempotency_key_in_use', 'insufficient_stock', 'underpaid', 'login_locked', 'sale_voided', 'refund_exceeds_sale', 'member_merged', 'count_in_progress']) {
      expect(CATALOG_CODES, code).toContain(code)
    }
    expect(CATALOG_CODES.length).toBeGreaterThanOrEqual(60)
  })

  it('keeps English as thrown, and fills Chinese from the details when they say enough', () => {
    const stock = { code: 'insufficient_stock', english: 'only 2 available of variant v at location l, 5 needed', status: 409, params: { onHand: 4, reserved: 2, requested: 5 } }
    expect(localizeMessage('en', stock)).toBe(stock.english)
    expect(localizeMessage('zh-CN', stock)).toBe('库存不足：可用 2，需要 5')
    expect(localizeMessage('zh-TW', stock)).toBe('庫存不足：可用 2，需要 5')
    expect(localizeMessage('zh-CN', { ...stock, params: {} })).toBe('库存不足')
    expect(localizeMessage('zh-CN', { code: 'login_locked', english: 'x', status: 429, params: { retryAfter: 900 } })).toBe('登录失败次数过多，请 15 分钟后再试')
    expect(localizeMessage('zh-CN', { code: 'underpaid', english: 'x', status: 422, params: { amountDue: 1000 } })).toBe('付款金额不足')
    // Objects and long strings are not printed into a sentence.
    expect(localizeMessage('zh-CN', { code: 'item_not_for_sale', english: 'x', status: 422, params: { sku: { a: 1 } } })).toBe('商品已下架')
  })

  it('names the record of a <record>_not_found, and explains a code it does not know before the English', () => {
    expect(localizeMessage('zh-CN', { code: 'sale_not_found', english: 'sale 1 was not found', status: 404 })).toBe('没有找到该销售单')
    expect(localizeMessage('zh-TW', { code: 'widget_not_found', english: 'widget was not found', status: 404 })).toBe('沒有找到請求的記錄')
    expect(localizeMessage('zh-CN', { code: 'unknown_item', english: 'no item NO-SUCH-SKU', status: 422 })).toBe('不符合业务规则：no item NO-SUCH-SKU')
    expect(localizeMessage('zh-CN', { code: 'unknown_item', english: 'no item NO-SUCH-SKU 没有', status: 422, uncatalogued: 'keep' })).toBe('no item NO-SUCH-SKU 没有')
  })
})

describe('export headers', () => {
  it('are the keys in English, named in Chinese otherwise, with values in them left as they are', () => {
    const keys = ['business_date', 'store_code', 'tax 13.00% tax', 'tender wechat net', 'hour 09 count', 'discount promotion: 中秋节', 'some_new_column']
    expect(localizeHeader(keys, 'en')).toEqual(keys)
    expect(localizeHeader(keys, 'zh-CN')).toEqual(['营业日', '门店编号', '税率 13.00% 税额', '收款 wechat 净额', '09 时 笔数', '折扣 promotion：中秋节', 'some_new_column'])
    expect(localizeHeader(keys, 'zh-TW')).toEqual(['營業日', '門店編號', '稅率 13.00% 稅額', '收款 wechat 淨額', '09 時 筆數', '折扣 promotion：中秋节', 'some_new_column'])
  })
})

describe('merchant currencies', () => {
  it('know their minor units: two decimals for CNY, HKD, USD, UAH, none for JPY', () => {
    expect(['CNY', 'HKD', 'USD', 'UAH', 'JPY'].map(minorUnitsPer)).toEqual([100, 100, 100, 100, 1])
    expect(formatDecimal(123456, 'UAH')).toBe('1234.56')
    expect(formatDecimal(1235, 'JPY')).toBe('1235')
    expect(parseMoney('1234.56', 'HKD')).toBe(123456)
    expect(parseMoney('1235', 'JPY')).toBe(1235)
    expect(() => parseMoney('12.5', 'JPY')).toThrow(/decimals/)
  })

  it('are written with their own symbol, exactly', () => {
    expect(formatMoney(123456, 'CNY', 'zh-CN')).toBe('¥1,234.56')
    expect(formatMoney(123456, 'HKD', 'zh-CN')).toBe('HK$1,234.56')
    expect(formatMoney(-123456, 'USD', 'zh-CN')).toBe('-US$1,234.56')
    expect(formatMoney(123456, 'UAH', 'zh-CN')).toMatch(/^UAH\s1,234\.56$/)
    expect(formatMoney(123456, 'JPY', 'zh-CN')).toBe('JP¥123,456')
    expect(formatMoney(9_007_199_254_740_991, 'HKD', 'zh-CN')).toBe('HK$90,071,992,547,409.91')
  })
})
