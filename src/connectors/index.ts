// Every connector this hub ships, in one registry used by the API, the worker and the webhook endpoint.
import { createRegistry } from './framework/registry.ts'
import { alipay } from './payment/alipay/index.ts'
import { allinpay } from './payment/allinpay/index.ts'
import { mapped } from './payment/mapped/index.ts'
import { stripe } from './payment/stripe/index.ts'
import { wechatPay } from './payment/wechatpay/index.ts'
import { woocommerce } from './marketplace/woocommerce/index.ts'
import { shopify } from './marketplace/shopify/index.ts'
import { taobao } from './marketplace/taobao/index.ts'
import { kingdee } from './accounting/kingdee/index.ts'
import { yonyouU8 } from './accounting/yonyou/index.ts'
import { voucherFile } from './accounting/file/index.ts'
import { quickbooks } from './accounting/quickbooks/index.ts'
import { xero } from './accounting/xero/index.ts'

export const connectorRegistry = createRegistry([alipay, allinpay, mapped, stripe, wechatPay, woocommerce, shopify, taobao, voucherFile, quickbooks, xero, kingdee, yonyouU8])
