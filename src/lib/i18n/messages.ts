// Error messages for people in their own language, keyed by the stable error code. The English message stays the
// one the code was thrown with (it names the specifics); Simplified Chinese is written here by hand, filled with
// named values from the error's details where the details carry them; Traditional is derived from it by OpenCC.
//
// A code not in the catalog keeps its English message behind a localized sentence for its kind of error, so a
// person always learns what went wrong in general and support still sees the specifics.
import type { Locale } from './locale.ts'
import { toTraditional } from './traditional.ts'
import { formatMoney } from '../money.ts'

/** What a template may use: the error's details (when an object) and what the HTTP layer adds (retryAfter, …). */
export type MessageParams = Record<string, unknown>

type Render = (p: MessageParams) => string

const MAX_PARAM = 120

/** A value fit to print inside a sentence: a short string, a finite number, or nothing. */
function show(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (typeof v === 'string' && v.length > 0) return v.length > MAX_PARAM ? `${v.slice(0, MAX_PARAM)}…` : v
  return undefined
}

/** An amount in minor units as money of the merchant's currency (`currency`, which the HTTP layer adds), for people. */
function money(v: unknown, p: MessageParams, locale: string): string | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || typeof p.currency !== 'string') return undefined
  try {
    return formatMoney(v, p.currency, locale)
  } catch {
    return undefined
  }
}

/**
 * The first template all of whose `{name}` placeholders have a value; the last one (with no placeholders) is the
 * generic sentence used when the details do not say enough. `{name:money}` is an amount in minor units, shown in the
 * merchant's currency with its decimals (¥12.00, not 1200).
 */
const tIn =
  (locale: string) =>
  (...templates: string[]): Render =>
  (p) => {
    for (const tpl of templates) {
      let complete = true
      const out = tpl.replace(/\{(\w+)(:money)?\}/g, (_, name: string, isMoney?: string) => {
        const v = isMoney ? money(p[name], p, locale) : show(p[name])
        if (v === undefined) complete = false
        return v ?? ''
      })
      if (complete) return out
    }
    return templates[templates.length - 1]!
  }
const t = tIn('zh-CN')

const minutes = (p: MessageParams) => (typeof p.retryAfter === 'number' && p.retryAfter > 0 ? Math.ceil(p.retryAfter / 60) : undefined)

/** Names of records for `<record>_not_found`, the codes notFound() builds. */
const RECORDS: Record<string, string> = {
  sale: '销售单',
  refund: '退款单',
  member: '会员',
  store: '门店',
  register: '收银机',
  cash_session: '收银班次',
  user: '用户',
  role: '角色',
  merchant: '商户',
  product: '商品',
  variant: '商品规格',
  category: '商品分类',
  tax_category: '税目',
  promotion: '促销活动',
  coupon: '优惠券',
  tier: '会员等级',
  topup: '充值记录',
  topup_bonus_rule: '充值赠送规则',
  stock_level: '库存记录',
  stock_location: '库位',
  stock_count: '盘点单',
  stock_transfer: '调拨单',
  reservation: '库存预留',
  connection: '连接',
  statement: '对账单',
  statement_file: '对账单文件',
  recon_run: '对账批次',
  recon_item: '对账明细',
  voucher: '凭证',
  voucher_line: '凭证分录',
  campaign: '营销活动',
  segment: '会员分群',
  device: '设备',
  device_job: '设备任务',
  terminal_payment: '刷卡支付',
  approval_request: '审批申请',
  listing: '在售商品',
  channel_order: '渠道订单',
  job: '后台任务',
  inbound_webhook: '收到的 Webhook',
  webhook_endpoint: 'Webhook 地址',
  webhook_subscription: 'Webhook 订阅',
  webhook_delivery: 'Webhook 投递',
  api_key: 'API 密钥',
}

/** The catalog, in Simplified Chinese. */
const ZH_CN: Record<string, Render> = {
  // The request itself
  // The field and zod's own words for the rule stay as they are: they are for whoever writes the request.
  validation_failed: (p) => {
    const issues = Array.isArray(p.issues) ? (p.issues as { path?: unknown; message?: unknown }[]) : []
    const field = show(issues[0]?.path)
    if (!field) return '请求内容无效'
    const rule = show(issues[0]?.message)
    const more = issues.length > 1 ? `（另有 ${issues.length - 1} 处问题）` : ''
    return `请求内容无效：${field}${rule ? `（${rule}）` : ' 不符合要求'}${more}`
  },
  invalid_json: t('请求正文不是有效的 JSON'),
  bad_request: t('请求格式有误'),
  not_found: t('没有这个接口：{method} {path}', '没有找到请求的内容'),
  method_not_allowed: t('此接口不支持该请求方法'),
  payload_too_large: t('请求正文过大（上限 {limit} 字节）', '请求正文过大'),
  unsupported_media_type: t('请以 {expected} 格式发送请求正文', '请以 application/json 格式发送请求正文'),
  invalid_value: t('请求中有字段的值无效'),
  amount_out_of_range: t('请求中的金额过大，无法精确到分计算'),
  quantity_out_of_range: t('库存数量将超出可精确记录的范围'),
  invalid_cursor: t('分页游标无效，请使用上一页返回的 nextCursor'),
  invalid_date: t('日期无效，请使用 YYYY-MM-DD 格式'),
  internal_error: t('服务器内部出错，报告问题时请提供请求编号 {requestId}', '服务器内部出错'),

  // Who is calling
  unauthorized: t('缺少凭据或凭据无效'),
  unauthenticated: t('请登录，或以 "Authorization: Bearer <令牌>" 发送会话令牌或 API 密钥'),
  invalid_token: t('令牌无效、已过期或已被吊销，请重新登录'),
  invalid_credentials: t('邮箱或密码错误'),
  login_locked: (p) => (minutes(p) ? `登录失败次数过多，请 ${minutes(p)} 分钟后再试` : '登录失败次数过多，请稍后再试'),
  login_throttled: (p) => (minutes(p) ? `此地址登录失败次数过多，请 ${minutes(p)} 分钟后再试` : '此地址登录失败次数过多，请稍后再试'),
  invalid_pin: t('PIN 码错误，或收银机不存在或已停用'),
  pin_locked: (p) => (minutes(p) ? `PIN 码错误次数过多，请 ${minutes(p)} 分钟后再试` : 'PIN 码错误次数过多，请稍后再试'),
  permission_denied: t('角色 {role} 无权执行 {permission}', '无权执行此操作'),
  grants_exceeded: t('不能授予或管理超出自己权限的角色、用户或密钥'),
  key_scope: t('此密钥只用于门店设备桥接（/api/v1/bridge/link），不能调用其他接口'),
  csrf_failed: t('表单已过期或并非来自本后台，请刷新页面后重试'),
  user_required: t('只有登录的用户可以设置自己的语言；API 密钥使用商户的语言'),
  weak_password: t('密码太短'),
  invalid_email: t('邮箱地址无效'),
  email_taken: t('该邮箱已有用户使用'),
  last_admin: t('这是商户最后一位启用的管理员，不能停用或降级'),

  // Idempotency
  idempotency_key_reused: t('此 Idempotency-Key 已用于另一个请求（{method} {path}）', '此 Idempotency-Key 已用于另一个请求'),
  idempotency_key_in_use: t('使用此 Idempotency-Key 的请求正在处理中，请稍后重试'),
  invalid_idempotency_key: t('Idempotency-Key 须为 1–255 个可见 ASCII 字符'),
  idempotency_key_required: t('请发送 Idempotency-Key 请求头：每次付款尝试一个，重复请求不会重复扣款'),

  // The database's word on a request
  duplicate: t('已存在相同唯一值的记录'),
  reference_not_found: t('请求引用的记录不存在'),
  constraint_violated: t('请求违反了数据规则'),
  concurrent_update: t('该记录同时被另一个请求修改，请重试'),
  busy: t('该记录正被另一个请求锁定，请重试'),
  database_unavailable: t('数据库暂时无法连接，请稍后重试（写入请求请使用相同的 Idempotency-Key）'),

  // Checkout and tenders
  empty_sale: t('销售单至少需要一行商品'),
  item_not_for_sale: t('商品 {sku} 已下架', '商品已下架'),
  register_inactive: t('收银机未启用'),
  no_open_session: t('请先在此收银机上开班'),
  insufficient_stock: (p) => {
    const onHand = typeof p.onHand === 'number' ? p.onHand : undefined
    const reserved = typeof p.reserved === 'number' ? p.reserved : 0
    const requested = show(p.requested)
    if (onHand !== undefined && requested) return `库存不足：可用 ${Math.max(0, onHand - reserved)}，需要 ${requested}`
    return requested ? `库存不足，无法满足数量 ${requested}` : '库存不足'
  },
  tenders_required: t('销售单需要足以支付应付金额的付款方式'),
  underpaid: t('付款不足：应付 {amountDue:money}，已付 {paid:money}', '付款金额不足'),
  overpaid: t('非现金付款（{nonCash:money}）超过应付金额（{amountDue:money}）', '非现金付款超过应付金额'),
  one_cash_tender: t('现金请作为一笔付款录入（即顾客交付的金额）'),
  tender_not_available: t('积分需作为抵扣使用，不能作为付款方式'),
  invalid_tender: t('不支持此付款方式'),
  insufficient_stored_value: t('储值余额不足：余额 {balance:money}，需要 {requested:money}', '储值余额不足'),
  insufficient_points: t('积分不足：现有 {balance}，需要 {requested}', '积分不足'),
  member_required: t('此操作需要先指定会员'),
  coupon_unusable: t('优惠券当前不可使用'),
  price_override_forbidden: t('当前角色不能修改商品 {sku} 的价格', '当前角色不能修改价格'),
  discount_forbidden: t('当前角色不能手动打折'),
  discount_limit_exceeded: t('商品 {sku} 的折扣超过了当前角色的折扣上限', '折扣超过了当前角色的折扣上限'),
  device_of_other_store: t('补打只能发往原单据所在门店的打印机'),
  wrong_printer_kind: t('补打须发往同类打印机'),
  changed_since_request: t('申请提出后该商品已被他人修改，请重新提交申请'),
  unknown_scope: t('范围中的 {id} 不属于本商户', '范围中包含不属于本商户的编号'),
  requester_inactive: t('提出申请的人员已停用，无法以其名义执行'),
  duplicate_variant_options: t('同一商品的两个规格不能有完全相同的选项值'),
  discount_exceeds_line: t('商品 {sku} 的折扣 {discount:money} 超过了该行金额 {gross:money}', '折扣超过了该行金额'),
  price_change_approval_required: t('文件中有 {count} 处改价（价格、成本、计价单位或税目），需要店长审批：请店长导入，或附上店长授权后再导入', '文件中有改价，需要店长审批：请店长导入，或附上店长授权后再导入'),

  // Refunds and voids
  refund_exceeds_sale: t('此商品最多还能退 {refundable} 件（申请 {requested} 件）', '退货数量超过可退数量'),
  refund_exceeds_tender: t('退款金额超过原付款可退的金额'),
  duplicate_sale_tender: t('同一笔原付款只能出现一次，请合并为一个退款金额'),
  refund_tender_kind: t('{kind} 退款须原路退回该销售单的 {kind} 付款', '退款方式与原付款不符'),
  refund_tender_ambiguous: t('该销售单有多笔 {kind} 付款，请指明退回哪一笔（saleTenderId）', '请指明退回哪一笔原付款（saleTenderId）'),
  refund_tender_mismatch: t('退款方式的金额合计须等于退款总额 {refundTotal:money}', '退款方式的金额合计须等于退款总额'),
  sale_voided: t('该销售单已作废'),
  void_window_closed: t('只能在销售当天且收银班次未结束时作废，请改为退款'),
  sale_has_refunds: t('该销售单已有退款，请退掉剩余部分而不是作废'),
  invalid_quantity: t('数量须为正整数'),
  invalid_amount: t('金额须为以最小货币单位计的非负整数'),

  // Cash
  session_closed: t('收银班次已结束'),
  rescue_session: t('补录班次只记录现金已在清点中的离线销售，没有钱箱；请在收银机当前的班次中操作'),
  session_already_open: t('此收银机已有未结束的班次'),
  not_enough_cash: t('钱箱中没有这么多现金'),
  reason_required: t('请填写原因'),

  // Stock, catalog, members
  count_in_progress: t('此库位已有进行中的盘点，请先过账或取消'),
  sku_taken: t('已有商品使用此 SKU'),
  barcode_taken: t('此条码已属于其他商品'),
  phone_taken: t('已有会员使用此手机号'),
  member_merged: t('该会员已被合并到另一位会员'),
  campaign_sent: t('该营销活动已发送，无可取消'),
  campaign_cancelled: t('该营销活动已取消'),
  connection_disabled: t('连接 {connection} 已停用，请先启用', '该连接已停用，请先启用'),

  // Merchant settings
  invalid_locale: t('语言须为 zh-CN、zh-TW 或 en'),
  invalid_currency: t('币种无效（须为 ISO 4217 币种，如 CNY、HKD）'),
  invalid_time_zone: t('时区无效（须为 IANA 时区）'),
  unknown_coupon_template: t('优惠券模板 {templateId} 不存在或不属于本商户', '优惠券模板不存在或不属于本商户'),
}

/** Sentences for the kind of error, by HTTP status, used before the English message of an uncatalogued code. */
const BY_STATUS_ZH: Record<number, string> = {
  400: '请求有误',
  401: '身份验证失败',
  403: '不允许此操作',
  404: '没有找到',
  409: '与当前状态冲突',
  422: '不符合业务规则',
  429: '请求过于频繁',
  502: '第三方服务出错',
}

/** Codes the catalog covers by name (not counting `<record>_not_found`). */
export const CATALOG_CODES: readonly string[] = Object.keys(ZH_CN)

function zhCN(code: string, english: string, status: number, params: MessageParams, keep: boolean): string {
  const render = ZH_CN[code]
  if (render) return render(params)
  const record = /^(\w+)_not_found$/.exec(code)?.[1]
  if (record) return RECORDS[record] ? `没有找到该${RECORDS[record]}` : '没有找到请求的记录'
  if (keep) return english
  const kind = BY_STATUS_ZH[status] ?? (status >= 500 ? '服务器出错' : '请求未能完成')
  return `${kind}：${english}`
}

export interface ErrorToLocalize {
  code: string
  /** The message the error was thrown with. */
  english: string
  status: number
  /** Its details (when an object) plus anything the HTTP layer knows (retryAfter, method, path). */
  params?: MessageParams
  /**
   * For a code the catalog lacks: 'explain' (the API) puts a sentence for its kind before the English message;
   * 'keep' (dashboard pages, whose own messages are often already written in both languages) leaves it as it is.
   */
  uncatalogued?: 'explain' | 'keep'
}

/**
 * English messages with amounts, where the code threw them in minor units ("tenders cover 1000 of 1200"): in the
 * merchant's currency when the HTTP layer knows it. Other English messages are the code's own.
 */
const EN_MONEY: Record<string, Render> = (() => {
  const en = tIn('en')
  return {
    underpaid: en('tenders cover {paid:money} of {amountDue:money}', ''),
    overpaid: en('non-cash tenders ({nonCash:money}) exceed the amount due ({amountDue:money})', ''),
    insufficient_stored_value: en('the stored value balance is {balance:money}, {requested:money} needed', ''),
    discount_exceeds_line: en('a discount of {discount:money} on {sku} is more than its line ({gross:money})', ''),
    refund_tender_mismatch: en('refund tenders must add up to {refundTotal:money}', ''),
  }
})()

/** The message of an error in `locale`. */
export function localizeMessage(locale: Locale, e: ErrorToLocalize): string {
  if (locale === 'en') return EN_MONEY[e.code]?.(e.params ?? {}) || e.english
  const zh = zhCN(e.code, e.english, e.status, e.params ?? {}, e.uncatalogued === 'keep')
  return locale === 'zh-TW' ? toTraditional(zh) : zh
}
