// The columns each kind of import understands, and the header names other POS systems give them, in Chinese and in
// English. A header is compared after normalising: case, spaces, "_", "-", ".", ":" and a unit in brackets are
// ignored, so "Card No.", "card_no", "CardNo" and "会员卡号（必填）" all name their column. This table is the
// documentation of the mapping; the API reference and the CLI's help point here.
import type { CatalogColumn } from '../catalog/catalog-file.ts'
import type { Table } from './table.ts'

export type ImportKind = 'catalog' | 'members' | 'stock'
export const IMPORT_KINDS: readonly ImportKind[] = ['catalog', 'members', 'stock']

export type MemberField =
  | 'phone'
  | 'name'
  | 'card_no'
  | 'tier'
  | 'points'
  | 'stored_value'
  | 'stored_bonus'
  | 'birthday'
  | 'email'
  | 'consent_sms'
  | 'consent_email'
  | 'consent_wechat'
export type StockField = 'sku' | 'barcode' | 'location' | 'quantity' | 'unit_cost'

const SKU = ['sku', 'skucode', '商品编码', '商品编号', '货号', '商品货号', '编码', 'itemcode', 'productcode', '自编码']
const BARCODE = ['barcode', 'barcodes', '条码', '条形码', '商品条码', '国际条码', 'ean', 'ean13', 'upc', 'gtin']
const COST = ['cost', 'unitcost', 'costprice', 'purchaseprice', '成本', '成本价', '单位成本', '进价', '进货价', '采购价']

export const MEMBER_HEADERS: Record<MemberField, string[]> = {
  phone: ['phone', 'mobile', 'mobilephone', 'cellphone', 'tel', 'telephone', 'phonenumber', '手机号', '手机', '手机号码', '电话', '联系电话', '会员手机', '会员手机号'],
  name: ['name', 'membername', 'fullname', 'customername', '姓名', '会员姓名', '会员名称', '名字', '客户名称', '顾客姓名'],
  card_no: ['cardno', 'cardnumber', 'card', 'membercard', 'membercardno', 'memberno', 'membernumber', '会员卡号', '卡号', '会员号', '会员编号', '会员卡'],
  tier: ['tier', 'tiername', 'level', 'grade', 'membertier', 'memberlevel', '会员等级', '等级', '会员级别', '级别', '卡类型', '会员卡类型', '卡等级'],
  points: ['points', 'pointsbalance', 'point', '积分', '当前积分', '可用积分', '积分余额', '剩余积分'],
  stored_value: ['storedvalue', 'storedbalance', 'balance', 'walletbalance', 'storedvaluebalance', 'principal', '储值余额', '余额', '储值', '卡内余额', '本金余额', '充值余额', '储值本金'],
  stored_bonus: ['storedbonus', 'bonusbalance', 'bonus', 'giftbalance', '赠送余额', '赠送金额', '赠金余额', '赠送储值'],
  birthday: ['birthday', 'birthdate', 'dateofbirth', 'dob', '生日', '出生日期', '出生年月日'],
  email: ['email', 'emailaddress', 'mail', '邮箱', '电子邮箱', '电子邮件', '邮件地址'],
  consent_sms: ['consentsms', 'smsconsent', 'acceptssms', 'smsoptin', 'sms', '短信营销', '接收短信', '短信订阅', '允许短信', '短信'],
  consent_email: ['consentemail', 'emailconsent', 'acceptsemail', 'emailoptin', '邮件营销', '接收邮件', '邮件订阅', '允许邮件'],
  consent_wechat: ['consentwechat', 'wechatconsent', 'wechatoptin', '微信营销', '接收微信', '微信订阅', '微信消息', '允许微信'],
}

export const STOCK_HEADERS: Record<StockField, string[]> = {
  sku: SKU,
  barcode: BARCODE,
  location: ['location', 'warehouse', 'stocklocation', 'store location', '仓库', '库位', '库存地点', '门店仓库', '位置', '仓位'],
  quantity: ['quantity', 'qty', 'stock', 'onhand', 'stockqty', 'openingstock', '库存', '数量', '库存数量', '期初库存', '期初数量', '当前库存', '现有库存', '库存量'],
  unit_cost: COST,
}

/** Other POS systems' names for the columns of the catalog spreadsheet (catalog-file.ts), which are accepted too. */
export const CATALOG_HEADERS: Record<CatalogColumn, string[]> = {
  product_key: ['productkey', 'groupkey', 'stylecode', 'styleno', '款号', '商品组', '款式编号'],
  product_name: ['productname', 'name', 'itemname', 'title', '商品名称', '名称', '品名', '商品名', '商品'],
  product_name_en: ['productnameen', 'englishname', 'nameen', '英文名称', '英文名', '商品英文名'],
  category: ['category', 'categorypath', '分类', '商品分类', '类别', '品类', '商品类别'],
  tax_category: ['taxcategory', 'taxcode', 'tax', '税目', '税收分类', '税率分类', '税类'],
  unit: ['unit', 'uom', '单位', '计量单位', '销售单位'],
  sku: SKU,
  options: ['options', 'variant', 'spec', 'specs', '规格', '规格属性', '属性', '商品规格'],
  price: ['price', 'retailprice', 'saleprice', 'sellingprice', '售价', '零售价', '价格', '销售价', '单价', '标准售价'],
  price_per: ['priceper', '计价数量'],
  cost: COST,
  barcodes: BARCODE,
  on_shelf: ['onshelf', 'status', 'active', 'enabled', '状态', '上架', '是否上架', '上下架', '商品状态'],
  variant_tax_category: ['varianttaxcategory', 'varianttaxcode', '规格税目'],
  variant_unit: ['variantunit', '规格单位'],
}

export const HEADERS: Record<ImportKind, Record<string, string[]>> = { catalog: CATALOG_HEADERS, members: MEMBER_HEADERS, stock: STOCK_HEADERS }

/** Columns a file of the kind must have (stock needs sku or barcode, checked apart). */
export const REQUIRED: Record<ImportKind, string[]> = { catalog: ['price'], members: ['phone'], stock: ['quantity'] }

/** "Card No.", "card_no" and "会员卡号（必填）" → "cardno", "cardno", "会员卡号". */
export const headerKey = (h: string) =>
  h
    .replace(/^\ufeff/, '')
    .replace(/[(（[【].*?[)）\]】]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[\s_\-.:：/]+/g, '')

const lookup = new Map<ImportKind, Map<string, string>>(
  IMPORT_KINDS.map((kind) => [kind, new Map(Object.entries(HEADERS[kind]).flatMap(([field, names]) => [field, ...names].map((n) => [headerKey(n), field] as [string, string])))]),
)

export interface ColumnMap {
  /** Field → index of its column in the header. */
  index: Map<string, number>
  /** Field → the header as the file wrote it. */
  headers: Record<string, string>
  /** Headers that name no column of this kind (ignored). */
  unknown: string[]
  /** A field named by two headers: [field, first header, second header]. */
  duplicates: [string, string, string][]
}

export function mapColumns(kind: ImportKind, table: Pick<Table, 'header'>): ColumnMap {
  const names = lookup.get(kind)!
  const index = new Map<string, number>()
  const headers: Record<string, string> = {}
  const unknown: string[] = []
  const duplicates: [string, string, string][] = []
  table.header.forEach((raw, i) => {
    const key = headerKey(raw)
    if (!key) return
    const field = names.get(key)
    if (!field) return void unknown.push(raw)
    if (index.has(field)) return void duplicates.push([field, headers[field]!, raw])
    index.set(field, i)
    headers[field] = raw
  })
  return { index, headers, unknown, duplicates }
}

/** The cells of a row by field (blank cells absent). */
export function cellsOf(map: ColumnMap, values: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [field, i] of map.index) {
    const v = values[i]?.trim()
    if (v) out[field] = v
  }
  return out
}
