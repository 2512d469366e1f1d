// The settings of a Yonyou U8 connection through U8 EAI (XML over HTTP): the import endpoint, this system's code as
// registered in EAI (sender), the operator who enters the vouchers, and how our generic dimensions map to U8's
// 辅助核算 items (dept_id, cust_id, …, self_define1..16).
import { z } from 'zod'
import { secret } from '../../framework/define.ts'
import type { DimensionKind } from '../../framework/accounting.ts'

/** The `<item name=…>` slots of `<auxiliary_accounting>`, in the order U8 documents them. */
export const AUXILIARY_ITEMS = [
  'dept_id',
  'personnel_id',
  'cust_id',
  'supplier_id',
  'item_id',
  'item_class',
  'operator',
  ...Array.from({ length: 16 }, (_, i) => `self_define${i + 1}` as const),
] as const
export type AuxiliaryItem = (typeof AUXILIARY_ITEMS)[number]

export const DEFAULT_AUXILIARY: Partial<Record<DimensionKind, AuxiliaryItem>> = { department: 'dept_id', customer: 'cust_id', supplier: 'supplier_id', employee: 'personnel_id', project: 'item_id' }

const slot = z.enum(AUXILIARY_ITEMS.filter((n) => n !== 'item_class' && n !== 'operator') as [AuxiliaryItem, ...AuxiliaryItem[]])

export const YonyouU8Config = z.object({
  eaiUrl: z.url().describe('The U8 EAI import endpoint, e.g. http://u8.example.com/U8EAI/import.asp'),
  sender: z.string().min(1).max(40).describe('系统编码 of this system as registered in U8 EAI (the sender attribute)'),
  receiver: z.string().min(1).default('u8').describe('The receiver attribute: u8, or the EAI code of the 账套'),
  enter: z.string().min(1).describe('制单人: the U8 operator the vouchers are entered as'),
  company: z.string().default('').describe('<company> of the voucher head; empty for the 账套 of the EAI registration'),
  dimensionItems: z
    .object({ department: slot, customer: slot, supplier: slot, employee: slot, project: slot })
    .partial()
    .default(DEFAULT_AUXILIARY)
    .describe('Dimension kind → 辅助核算 item name'),
  projectClass: z.string().optional().describe('项目大类 code (item_class) sent with a project dimension'),
  voucherMakingSystem: z.string().max(30).default('').describe('<voucher_making_system>: the 外部系统 name U8 shows on the voucher; empty keeps it an ordinary voucher'),
  httpUser: z.string().min(1).optional().describe('When the EAI endpoint sits behind HTTP basic authentication'),
  httpPassword: secret(z.string().min(1)).optional(),
})
export type YonyouU8Config = z.infer<typeof YonyouU8Config>
