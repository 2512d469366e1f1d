// The settings of a Kingdee K/3 Cloud (金蝶云星空) connection: the server and data centre, the API user (password or
// third-party app secret), the account book and 凭证字 vouchers go to, and how our generic dimensions map to the
// book's 核算维度 flex slots (FDETAILID__FFLEXn).
import { z } from 'zod'
import { secret } from '../../framework/define.ts'
import type { DimensionKind } from '../../framework/accounting.ts'

/** Default 核算维度 slots, as a commercial middleware documents them: 4 供应商, 5 部门, 6 客户, 7 人员. */
export const DEFAULT_FLEX_SLOTS: Partial<Record<DimensionKind, string>> = { supplier: 'FFLEX4', department: 'FFLEX5', customer: 'FFLEX6', employee: 'FFLEX7' }

const flexSlot = z.string().regex(/^FFLEX\d{1,2}$/, 'a 核算维度 slot is FFLEXn, e.g. FFLEX5 for 部门')

export const KingdeeConfig = z
  .object({
    serverUrl: z
      .url()
      .transform((u) => u.replace(/\/+$/, '').replace(/\/k3cloud$/i, ''))
      .describe('The 云星空 server, e.g. https://erp.example.com (the /k3cloud/ path is added)'),
    acctId: z.string().min(1, 'the 数据中心 id (acctID) is shown on the login page of 云星空').describe('数据中心 id (acctID)'),
    username: z.string().min(1).describe('The API user; its 凭证录入 option should be set to 不重算 so amounts are kept as sent'),
    password: secret(z.string().min(1)).optional().describe('For ValidateUser; leave empty when an app id and secret are given'),
    appId: z.string().min(1).optional().describe('第三方系统登录授权 app id, for LoginByAppSecret'),
    appSecret: secret(z.string().min(1)).optional(),
    lcid: z.number().int().default(2052).describe('2052 = 简体中文'),
    accountBook: z.string().min(1).describe('账簿 number (FAccountBookID.FNumber), e.g. 001'),
    voucherGroup: z.string().min(1).default('PRE001').describe('凭证字 number (FVOUCHERGROUPID.FNumber); PRE001 is the preset 记'),
    currencies: z.record(z.string().regex(/^[A-Z]{3}$/), z.string().min(1)).default({ CNY: 'PRE001' }).describe('ISO currency → 币别 number (FCURRENCYID.FNumber)'),
    exchangeRateType: z.string().min(1).default('HLTX01_SYS').describe('汇率类型 number (FEXCHANGERATETYPE.FNumber); HLTX01_SYS is the preset fixed rate'),
    dimensionSlots: z
      .object({ department: flexSlot, customer: flexSlot, supplier: flexSlot, employee: flexSlot, project: flexSlot })
      .partial()
      .default(DEFAULT_FLEX_SLOTS)
      .describe('Dimension kind → 核算维度 flex slot of FDetailID'),
    referenceField: z
      .string()
      .regex(/^F_\w+$/, 'a BOS extension field key starts with F_, e.g. F_TB_ExtNo')
      .optional()
      .describe('A custom text field added to GL_VOUCHER that carries our reference; without it the reference prefixes the first line 摘要'),
    sendPeriod: z.boolean().default(true).describe('Send FYEAR/FPERIOD as the calendar year and month of the date; off for books whose periods are not calendar months'),
  })
  .superRefine((c, issue) => {
    if (c.appId || c.appSecret) {
      if (!c.appId || !c.appSecret) issue.addIssue({ code: 'custom', path: [c.appId ? 'appSecret' : 'appId'], message: 'LoginByAppSecret needs both the app id and the app secret' })
    } else if (!c.password) {
      issue.addIssue({ code: 'custom', path: ['password'], message: 'give the password of the API user, or an app id and app secret' })
    }
  })
export type KingdeeConfig = z.infer<typeof KingdeeConfig>
