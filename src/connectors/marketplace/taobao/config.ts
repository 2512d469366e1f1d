// The settings of a Taobao/Tmall connection: the ISV app (key and secret), the seller's OAuth session, and which
// kind of shop it is (Tmall shops write stock through tmall.item.quantity.update, Taobao shops through taobao.*).
import { z } from 'zod'
import { secret } from '../../framework/define.ts'
import { SIGN_METHODS } from './sign.ts'

export const TOP_GATEWAY = 'https://gw.api.taobao.com/router/rest'

export const TaobaoConfig = z.object({
  appKey: z.string().regex(/^\d{6,12}$/, 'a TOP app key (AppKey) is a number of 6 to 12 digits, such as 12345678'),
  appSecret: secret(z.string().min(8, 'the app secret (AppSecret) is shown on the app console of open.taobao.com')),
  sessionKey: secret(z.string().min(8, "the seller's session key (SessionKey) comes from the OAuth authorisation of the shop")),
  platform: z.enum(['taobao', 'tmall']).default('taobao').describe('tmall for a Tmall (天猫) shop, taobao for a Taobao (淘宝) shop'),
  signMethod: z.enum(SIGN_METHODS).default('md5'),
  gatewayUrl: z.url().default(TOP_GATEWAY).describe('Only changed for a sandbox or the overseas gateway'),
  callsPerSecond: z.number().positive().max(1000).default(20).describe("Client-side limit, below the app's TOP flow-control quota"),
})
export type TaobaoConfig = z.infer<typeof TaobaoConfig>
