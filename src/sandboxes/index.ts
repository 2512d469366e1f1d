// Built-in sandboxes of every third party the hub speaks to, served on local ports for `npm run demo`: one simulator
// per vendor behind its own HTTP server (serve.ts), an SMTP server, and the in-store devices. Nothing here talks to a
// real vendor. `connections` holds a ready config for every connector of the registry, with credentials each
// simulator accepts and the connector's base URL pointed at the local server.
import { generateKeyPair, randomUUID, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { RequestHandler } from 'msw'
import { connectorRegistry } from '../connectors/index.ts'
import { DEFAULT_ACCOUNTS } from '../core/vouchers/accounts.ts'
import { startEscposPrinter, type SimPrinter } from '../devices/simulators/escpos-printer.ts'
import { startEposPrinter, type SimEposPrinter } from '../devices/simulators/epos-printer.ts'
import { startDisplay, type DisplaySimulator } from '../devices/simulators/display.ts'
import { startScale, type ScaleSimulator } from '../devices/simulators/scale.ts'
import { stripeTerminalSimulator, type StripeTerminalSimulator } from '../devices/simulators/stripe-terminal.ts'
import { serveHandlers, type SandboxServer } from './serve.ts'
import { alipaySandbox } from './vendors/alipay.ts'
import { aliyunSmsSandbox, type AliyunSmsSandbox } from './vendors/aliyun-sms.ts'
import { kingdeeSandbox } from './vendors/kingdee.ts'
import { mailchimpSandbox, type MailchimpSandbox } from './vendors/mailchimp.ts'
import { quickbooksSandbox } from './vendors/quickbooks.ts'
import { shopifySandbox, type ShopifySandbox } from './vendors/shopify.ts'
import { smtpSandbox, type SmtpSandbox } from './vendors/smtp.ts'
import { stripeSandbox } from './vendors/stripe.ts'
import { taobaoSandbox } from './vendors/taobao.ts'
import { unionpaySandbox } from './vendors/unionpay.ts'
import { twilioSandbox, type TwilioSandbox } from './vendors/twilio.ts'
import { wechatMessagesSandbox, type WechatMessagesSandbox } from './vendors/wechat-messages.ts'
import { wechatPaySandbox } from './vendors/wechatpay.ts'
import { wooSandbox, type WooSandbox } from './vendors/woocommerce.ts'
import { xeroSandbox } from './vendors/xero.ts'
import { yonyouSandbox } from './vendors/yonyou.ts'

/** Every connection made from these configs is named so, so no one mistakes a sandbox for the real vendor. */
export const SANDBOX_PREFIX = 'Sandbox · '

/**
 * The sandbox accounts and the fixed things a demo sends through them: who the merchant is at each vendor, the
 * approved SMS signature and templates, the WeChat template, the finance mailbox. Secrets are made up and only
 * open these simulators.
 */
export const SANDBOX = {
  wechatPay: { mchId: '1900000109', appId: 'wx8888888888888888', serialNo: '3775B6A45ACD588826D15E583A95F5DD2A5FFDA4', platformSerial: 'PUB_KEY_ID_0119000001092026031600000000000001', feeRateBp: 60 },
  alipay: { appId: '2021004100000001', pid: '2088101122334455', feeRateBp: 60 },
  unionpay: { merId: '777290058110048', certId: '69629715588', feeRateBp: 60 },
  stripe: { secretKey: 'sk_test_51SandboxTillbridgeDemo0000000000', webhookSecret: 'whsec_SandboxTillbridgeDemo000000000000', readerId: 'tmr_SandboxCounter0001' },
  shopify: { shop: 'tillbridge-demo.myshopify.com', accessToken: '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', webhookSecret: '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' },
  woocommerce: {
    siteUrl: 'https://shop.tillbridge-demo.test',
    consumerKey: 'ck_5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9',
    consumerSecret: 'cs_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b',
    webhookSecret: 'sandbox-woo-hook-secret-2026',
  },
  taobao: { appKey: '12345678', appSecret: 'sandbox-app-secret-0123456789abcdef', sessionKey: '6100e2f8a7c4b3d2e1f0sandboxsessionkey2200001', sellerNick: 'tillbridge_demo' },
  kingdee: { acctId: '6523f1a4b0e8c1', username: 'tillbridge-api', password: 'Sandbox-kd-2026', accountBook: '001' },
  yonyou: { sender: 'TB01', enter: 'demo' },
  quickbooks: { clientId: 'ABsandboxTillbridgeDemoClient0000000000000000', clientSecret: 'qbo-sandbox-secret-7Hc2Lr9Vx4Kp0Wm6', refreshToken: 'AB11800000000sandboxrefreshtoken000000000001', realmId: '9130357992218386' },
  xero: { clientId: '91E5715B1199038080D6D0296EBC1648', clientSecret: 'xero-sandbox-secret-Qm3Rt8Vw1Yz6Bc0', refreshToken: 'sandbox-xero-refresh-6a4f0c2e9b1d8f7a3c5e0b2d4f6a8c1e', tenantId: '3c0b4a8e-6f12-4d7b-9a51-2e8f0c6d1b73' },
  aliyunSms: {
    accessKeyId: 'LTAI5tSandboxTillbridge01',
    accessKeySecret: 'kQ7vT2nX9pL4sR8wZ1yB6cF3hJ5mN0',
    callbackToken: 'sandbox_push_5f3a9c1e7b2d4068',
    signName: '茶语轩',
    templateCode: 'SMS_460915001',
    templateText: '亲爱的${name}，您的优惠券${coupon}已到账，拒收请回复R',
  },
  twilio: { accountSid: 'AC7d3f0c9a1b2e4f5a6b7c8d9e0f1a2b3c', authToken: '5e8c1f7a2b9d4c6e0a3f8b1d7c2e9a4f', from: '+14155550142' },
  mailchimp: { apiKey: '3f9a6c1e8b2d4a7f90c5e1d2b3a4f5e6-us21', listId: 'b7c3e91f2a', webhookToken: 'sandbox-mc-hook-7Qx2LmP9vR4s' },
  wechatMessages: { appId: 'wx8a5c0e9f1b2d3c4e', appSecret: '5f1e2d3c4b5a69788796a5b4c3d2e1f0', token: 'TillbridgeSandbox2026', templateId: 'ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY' },
  mail: { username: 'vouchers@tillbridge-demo.test', password: 'Sandbox-smtp-2026', recipients: ['finance@tillbridge-demo.test'] },
} as const

export interface StartSandboxesOptions {
  /** Where the local servers listen (default 127.0.0.1); the display, the scale and the SMTP server always use 127.0.0.1. */
  host?: string
  /** Time each simulated vendor call takes (default 15 ms), so the demo shows work in flight. */
  latencyMs?: number
  /** This hub as vendors reach it, for the Twilio connection's callback URL (default http://localhost:3000). */
  hubUrl?: string
}

export interface SandboxConnection {
  connectorId: string
  name: string
  config: Record<string, unknown>
}

export interface Sandboxes {
  /** One ready config for every connector the hub ships, named `Sandbox · <title>`. */
  connections: SandboxConnection[]
  vendors: {
    wechatpay: ReturnType<typeof wechatPaySandbox>
    alipay: ReturnType<typeof alipaySandbox>
    unionpay: ReturnType<typeof unionpaySandbox>
    stripe: ReturnType<typeof stripeSandbox>
    shopify: ShopifySandbox
    woocommerce: WooSandbox
    taobao: ReturnType<typeof taobaoSandbox>
    kingdee: ReturnType<typeof kingdeeSandbox>
    yonyou: ReturnType<typeof yonyouSandbox>
    quickbooks: ReturnType<typeof quickbooksSandbox>
    xero: ReturnType<typeof xeroSandbox>
    aliyunSms: AliyunSmsSandbox
    twilio: TwilioSandbox
    mailchimp: MailchimpSandbox
    wechatMessages: WechatMessagesSandbox
    smtp: SmtpSandbox
    stripeTerminal: StripeTerminalSimulator
  }
  devices: {
    receiptPrinter: SimPrinter
    kitchenPrinter: SimPrinter
    eposPrinter: SimEposPrinter
    display: DisplaySimulator
    scale: ScaleSimulator
    /** The scale's continuous-output format, for its device registration. */
    scaleFormat: 'cas22'
    /** The Stripe Terminal reader, driven through the Stripe connection. */
    readerId: string
  }
  /** The local address of each vendor server, by vendor (and host, where a vendor has two). */
  servers: Record<string, string>
  /**
   * Makes the merchant's store codes known to the ledgers as the store dimension: Kingdee 核算维度 FFLEX5, U8 dept_id,
   * QuickBooks departments, Xero options of the tracking category "Store". Vouchers carry the store on every line.
   */
  registerStores(codes: string[]): void
  close(): Promise<void>
}

const keyPair = promisify(generateKeyPair)
const rsa = () => keyPair('rsa', { modulusLength: 2048 })
const pem = (key: KeyObject, type: 'pkcs8' | 'spki') => key.export({ type, format: 'pem' }) as string

/** A Xero account type for a code of the Chinese chart (1 assets, 2 liabilities, 6 profit and loss). */
function xeroType(code: string): string {
  if (code === '1405') return 'INVENTORY'
  if (code.startsWith('1012')) return 'BANK'
  if (code.startsWith('1')) return 'CURRENT'
  if (code.startsWith('2')) return 'CURRLIAB'
  if (code === '6001') return 'REVENUE'
  if (code.startsWith('63')) return 'OTHERINCOME'
  if (code.startsWith('64')) return 'DIRECTCOSTS'
  return 'EXPENSE'
}
function quickbooksType(code: string): string {
  if (code === '1001' || code.startsWith('1012')) return 'Bank'
  if (code.startsWith('1122')) return 'Accounts Receivable'
  if (code.startsWith('1')) return 'Other Current Asset'
  if (code.startsWith('2')) return 'Other Current Liability'
  if (code === '6001') return 'Income'
  if (code.startsWith('63')) return 'Other Income'
  if (code.startsWith('64')) return 'Cost of Goods Sold'
  return 'Expense'
}

/** Starts every sandbox; `close()` stops them all. A failure while starting stops what had started. */
export async function startSandboxes(opts: StartSandboxesOptions = {}): Promise<Sandboxes> {
  const host = opts.host ?? '127.0.0.1'
  const latencyMs = opts.latencyMs ?? 15
  const closers: (() => Promise<void>)[] = []
  const servers: Record<string, string> = {}
  const closeAll = async () => {
    const errors: unknown[] = []
    for (const close of closers.splice(0).reverse()) await close().catch((e: unknown) => errors.push(e))
    if (errors.length) throw new AggregateError(errors, 'some sandboxes did not close')
  }

  /** A server answering on `origin` (or on its own address when the simulator is built on it later). */
  const server = async (name: string, origin: string | undefined, handlers: readonly RequestHandler[] = [], onRequest?: (r: Request) => void) => {
    const s: SandboxServer = await serveHandlers(handlers, { origin, host, name, onRequest })
    closers.push(s.close)
    servers[name] = s.url
    return s
  }

  try {
    const [merchantKeys, platformKeys, alipayAppKeys, alipayKeys, unionpayMerchantKeys, unionpayKeys] = await Promise.all([rsa(), rsa(), rsa(), rsa(), rsa(), rsa()])

    // ---- payment channels ----

    const wechatPayServer = await server('wechatpay', undefined)
    const wechatpay = wechatPaySandbox({
      baseUrl: wechatPayServer.url,
      mchId: SANDBOX.wechatPay.mchId,
      appId: SANDBOX.wechatPay.appId,
      merchant: { publicKey: merchantKeys.publicKey, serialNo: SANDBOX.wechatPay.serialNo },
      platform: { privateKey: platformKeys.privateKey, serial: SANDBOX.wechatPay.platformSerial },
      feeRateBp: SANDBOX.wechatPay.feeRateBp,
    })
    // Bill links point back at the server that gave them (the connector follows them only on its own host).
    wechatPayServer.use(wechatpay.handlers)

    const alipayGateway = await server('alipay', 'https://openapi.alipay.com')
    const alipayFiles = await server('alipay-files', undefined)
    const alipay = alipaySandbox({
      appId: SANDBOX.alipay.appId,
      pid: SANDBOX.alipay.pid,
      appPublicKey: alipayAppKeys.publicKey,
      alipayPrivateKey: alipayKeys.privateKey,
      clock: () => new Date(),
      downloadUrl: `${alipayFiles.url}/downloadBillFile.resource`,
    })
    alipayGateway.use(alipay.handlers)
    alipayFiles.use(alipay.handlers)

    // UnionPay's file-transfer interface answers on the server's root.
    const unionpayServer = await server('unionpay', undefined)
    const unionpay = unionpaySandbox({
      merId: SANDBOX.unionpay.merId,
      certId: SANDBOX.unionpay.certId,
      merchantPublicKey: unionpayMerchantKeys.publicKey,
      unionpayPrivateKey: unionpayKeys.privateKey,
      clock: () => new Date(),
      url: `${unionpayServer.url}/`,
    })
    unionpayServer.use(unionpay.handlers)

    // Stripe's balance and its Terminal API share one host: a reader is driven through the Stripe connection.
    const stripe = stripeSandbox({ secretKey: SANDBOX.stripe.secretKey })
    const stripeTerminal = stripeTerminalSimulator()
    stripeTerminal.addReader(SANDBOX.stripe.readerId, { label: 'Sandbox counter reader' })
    const stripeServer = await server('stripe', 'https://api.stripe.com', [...stripe.handlers, ...stripeTerminal.handlers])

    // ---- marketplaces ----

    const shopify = shopifySandbox({ ...SANDBOX.shopify, latencyMs, bucket: { maximumAvailable: 20_000, restoreRate: 1_000 } })
    const shopifyServer = await server('shopify', `https://${SANDBOX.shopify.shop}`, shopify.handlers)

    const woocommerce = wooSandbox({ ...SANDBOX.woocommerce, latencyMs, now: new Date() })
    // The simulated shop's clock is set, not running: keep it at the wall clock so orders and edits are dated now.
    const wooServer = await server('woocommerce', SANDBOX.woocommerce.siteUrl, woocommerce.handlers, () => woocommerce.setNow(new Date()))

    const taobao = taobaoSandbox({ ...SANDBOX.taobao, platform: 'taobao', latencyMs })
    const taobaoServer = await server('taobao', 'https://gw.api.taobao.com', taobao.handlers)

    // ---- accounting ----

    const chart = Object.values(DEFAULT_ACCOUNTS)

    const kingdee = kingdeeSandbox({ serverUrl: 'https://k3cloud.example.com', acctId: SANDBOX.kingdee.acctId, username: SANDBOX.kingdee.username, password: SANDBOX.kingdee.password, accountBooks: [SANDBOX.kingdee.accountBook] })
    for (const a of chart) kingdee.addAccount(a.code, a.name)
    const kingdeeServer = await server('kingdee', 'https://k3cloud.example.com', kingdee.handlers)

    const yonyou = yonyouSandbox({ eaiUrl: 'http://u8.example.com/U8EAI/import.asp', senders: [SANDBOX.yonyou.sender], operators: [SANDBOX.yonyou.enter] })
    for (const a of chart) yonyou.addAccount(a.code, a.name)
    const yonyouServer = await server('yonyou', 'http://u8.example.com', yonyou.handlers)

    const quickbooks = quickbooksSandbox({
      ...SANDBOX.quickbooks,
      baseUrl: 'https://sandbox-quickbooks.api.intuit.com',
      companyName: 'Tillbridge Demo Tea House',
      homeCurrency: 'CNY',
      latencyMs,
      perMinute: 10_000,
      concurrent: 50,
      // A demo may connect twice from the same starting token: the first rotation leaves it usable for an hour.
      rotatedGraceSeconds: 3600,
    })
    const qboAccounts = Object.fromEntries(chart.map((a) => [a.code, quickbooks.addAccount({ name: `${a.code} ${a.name}`, type: quickbooksType(a.code) }).Id]))
    const quickbooksServer = await server('quickbooks', 'https://sandbox-quickbooks.api.intuit.com', quickbooks.handlers)
    const quickbooksOauth = await server('quickbooks-oauth', 'https://oauth.platform.intuit.com', quickbooks.handlers)

    const xero = xeroSandbox({ ...SANDBOX.xero, organisationName: 'Tillbridge Demo Tea House', baseCurrency: 'CNY', latencyMs, perMinute: 10_000, perDay: 1_000_000, concurrent: 50 })
    for (const a of chart) xero.addAccount({ code: a.code, name: a.name, type: xeroType(a.code) })
    const storeCategory = xero.addTrackingCategory('Store', [])
    const xeroServer = await server('xero', 'https://api.xero.com', xero.handlers)
    const xeroIdentity = await server('xero-identity', 'https://identity.xero.com', xero.handlers)

    const smtp = smtpSandbox({ users: { [SANDBOX.mail.username]: SANDBOX.mail.password }, hostname: 'smtp.sandbox.tillbridge' })
    await smtp.start()
    closers.push(() => smtp.stop())
    servers.smtp = `smtp://${smtp.host}:${smtp.port}`

    // ---- campaigns ----

    const a = SANDBOX.aliyunSms
    const aliyunSms = aliyunSmsSandbox({
      accessKeys: { [a.accessKeyId]: a.accessKeySecret },
      signNames: [a.signName],
      templates: { [a.templateCode]: a.templateText },
      latencyMs,
    })
    const aliyunServer = await server('aliyun-sms', 'https://dysmsapi.aliyuncs.com', aliyunSms.handlers)

    const twilio = twilioSandbox({ accountSid: SANDBOX.twilio.accountSid, authToken: SANDBOX.twilio.authToken, senders: [SANDBOX.twilio.from], friendlyName: 'Tillbridge Demo Tea House', ratePerSecond: 1000, latencyMs })
    const twilioServer = await server('twilio', 'https://api.twilio.com', twilio.handlers)

    const mailchimp = mailchimpSandbox({
      apiKey: SANDBOX.mailchimp.apiKey,
      listId: SANDBOX.mailchimp.listId,
      listName: 'Tea House members',
      campaignDefaults: { from_name: 'Tillbridge Demo Tea House', from_email: 'hello@tillbridge-demo.test' },
      webhookToken: SANDBOX.mailchimp.webhookToken,
      latencyMs,
    })
    const mailchimpServer = await server('mailchimp', new URL(mailchimp.base).origin, mailchimp.handlers)

    const w = SANDBOX.wechatMessages
    const wechatMessages = wechatMessagesSandbox({ appId: w.appId, appSecret: w.appSecret, token: w.token, templates: [w.templateId], latencyMs })
    const wechatServer = await server('wechat-messages', 'https://api.weixin.qq.com', wechatMessages.handlers)

    // ---- devices ----

    const receiptPrinter = await startEscposPrinter({ host })
    closers.push(() => receiptPrinter.close())
    const kitchenPrinter = await startEscposPrinter({ host })
    closers.push(() => kitchenPrinter.close())
    const eposPrinter = await startEposPrinter({ host })
    closers.push(() => eposPrinter.close())
    const display = await startDisplay()
    closers.push(() => display.close())
    const scale = await startScale({ format: 'cas22' })
    closers.push(() => scale.close())

    // ---- the connections ----

    const configs: Record<string, Record<string, unknown>> = {
      wechatpay: {
        apiVersion: 'v3',
        mchId: SANDBOX.wechatPay.mchId,
        appId: SANDBOX.wechatPay.appId,
        merchantSerialNo: SANDBOX.wechatPay.serialNo,
        privateKey: pem(merchantKeys.privateKey, 'pkcs8'),
        platformPublicKey: pem(platformKeys.publicKey, 'spki'),
        platformSerial: SANDBOX.wechatPay.platformSerial,
        feeRateBp: SANDBOX.wechatPay.feeRateBp,
        baseUrl: wechatPayServer.url,
      },
      alipay: {
        appId: SANDBOX.alipay.appId,
        pid: SANDBOX.alipay.pid,
        appPrivateKey: pem(alipayAppKeys.privateKey, 'pkcs8'),
        alipayPublicKey: pem(alipayKeys.publicKey, 'spki'),
        gateway: `${alipayGateway.url}/gateway.do`,
        feeRateBp: SANDBOX.alipay.feeRateBp,
      },
      stripe: { secretKey: SANDBOX.stripe.secretKey, webhookSecret: SANDBOX.stripe.webhookSecret, baseUrl: stripeServer.url },
      // Card bills are uploaded files: nothing to serve.
      allinpay: { merchantNo: '821310053110001', feeRateBp: 50, feeCapFen: 2000 },
      unionpay: {
        merId: SANDBOX.unionpay.merId,
        certId: SANDBOX.unionpay.certId,
        privateKey: pem(unionpayMerchantKeys.privateKey, 'pkcs8'),
        unionpayPublicKey: pem(unionpayKeys.publicKey, 'spki'),
        baseURL: `${unionpayServer.url}/`,
        feeRateBp: SANDBOX.unionpay.feeRateBp,
      },
      // A bank's export with its own column names, uploaded.
      mapped: {
        columns: { ourRef: '商户订单号', channelTxnId: '交易流水号', amount: '交易金额', fee: '手续费', time: '交易时间', type: '交易类型' },
        typeValues: { payment: ['消费'], refund: ['退货'] },
        refundSign: 'positive',
      },
      shopify: { ...SANDBOX.shopify, baseUrl: shopifyServer.url },
      woocommerce: { ...SANDBOX.woocommerce, requestsPerSecond: 50, baseUrl: `${wooServer.url}/wp-json/wc/v3` },
      taobao: { appKey: SANDBOX.taobao.appKey, appSecret: SANDBOX.taobao.appSecret, sessionKey: SANDBOX.taobao.sessionKey, platform: 'taobao', gatewayUrl: `${taobaoServer.url}/router/rest`, callsPerSecond: 50 },
      kingdee: { serverUrl: kingdeeServer.url, acctId: SANDBOX.kingdee.acctId, username: SANDBOX.kingdee.username, password: SANDBOX.kingdee.password, accountBook: SANDBOX.kingdee.accountBook },
      'yonyou-u8': { eaiUrl: `${yonyouServer.url}/U8EAI/import.asp`, sender: SANDBOX.yonyou.sender, enter: SANDBOX.yonyou.enter },
      quickbooks: {
        clientId: SANDBOX.quickbooks.clientId,
        clientSecret: SANDBOX.quickbooks.clientSecret,
        refreshToken: SANDBOX.quickbooks.refreshToken,
        realmId: SANDBOX.quickbooks.realmId,
        environment: 'sandbox',
        baseUrl: quickbooksServer.url,
        tokenUrl: `${quickbooksOauth.url}/oauth2/v1/tokens/bearer`,
        accounts: qboAccounts,
      },
      xero: {
        clientId: SANDBOX.xero.clientId,
        clientSecret: SANDBOX.xero.clientSecret,
        refreshToken: SANDBOX.xero.refreshToken,
        tenantId: SANDBOX.xero.tenantId,
        baseUrl: xeroServer.url,
        tokenUrl: `${xeroIdentity.url}/connect/token`,
      },
      'voucher-file': {
        smtpHost: smtp.host,
        smtpPort: smtp.port,
        secure: false,
        username: SANDBOX.mail.username,
        password: SANDBOX.mail.password,
        from: SANDBOX.mail.username,
        recipients: [...SANDBOX.mail.recipients],
        format: 'both',
        layout: 'generic',
      },
      'aliyun-sms': { accessKeyId: a.accessKeyId, accessKeySecret: a.accessKeySecret, signName: a.signName, callbackToken: a.callbackToken, endpoint: aliyunServer.url },
      twilio: { accountSid: SANDBOX.twilio.accountSid, authToken: SANDBOX.twilio.authToken, from: SANDBOX.twilio.from, webhookBaseUrl: opts.hubUrl ?? 'http://localhost:3000', baseUrl: twilioServer.url },
      mailchimp: { apiKey: SANDBOX.mailchimp.apiKey, listId: SANDBOX.mailchimp.listId, webhookToken: SANDBOX.mailchimp.webhookToken, baseUrl: `${mailchimpServer.url}/3.0` },
      'wechat-messages': { appId: w.appId, appSecret: w.appSecret, token: w.token, baseUrl: wechatServer.url },
    }
    const connections = connectorRegistry.all().map((connector) => {
      const config = configs[connector.id]
      if (!config) throw new Error(`connector ${connector.id} has no sandbox: add its config to src/sandboxes/index.ts`)
      return { connectorId: connector.id, name: `${SANDBOX_PREFIX}${connector.title}`, config }
    })

    return {
      connections,
      vendors: { wechatpay, alipay, unionpay, stripe, shopify, woocommerce, taobao, kingdee, yonyou, quickbooks, xero, aliyunSms, twilio, mailchimp, wechatMessages, smtp, stripeTerminal },
      devices: { receiptPrinter, kitchenPrinter, eposPrinter, display, scale, scaleFormat: 'cas22', readerId: SANDBOX.stripe.readerId },
      servers,
      registerStores(codes) {
        for (const code of codes) {
          kingdee.addDimensionValue('FFLEX5', code)
          yonyou.addDimensionValue('dept_id', code)
          if (![...quickbooks.state.departments.values()].some((d) => d.Name === code)) quickbooks.addDepartment(code)
          if (!storeCategory.Options.some((o) => o.Name === code)) storeCategory.Options.push({ TrackingOptionID: randomUUID(), Name: code, Status: 'ACTIVE' })
        }
      },
      close: closeAll,
    }
  } catch (e) {
    await closeAll().catch(() => undefined)
    throw e
  }
}
