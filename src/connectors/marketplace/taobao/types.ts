// The parts of TOP's Item, Sku, Trade and Order structures this connector reads, as they come with simplify=true
// (lists are plain arrays, not `{"sku":[…]}` wrappers). Big ids (tid, oid) are read from their `_str` twins: as JSON
// numbers they exceed 2^53 and lose digits in JSON.parse.

export interface TopSku {
  sku_id: number
  quantity?: number
  outer_id?: string
  barcode?: string
  /** `pid:vid:属性名:属性值;…`, e.g. `1627207:28341:颜色分类:黑色;20509:28314:尺码:S`. */
  properties_name?: string
  modified?: string
}

export interface TopItem {
  num_iid: number
  title?: string
  outer_id?: string
  barcode?: string
  /** Sellable quantity of the item (the sum of its SKUs when it has some). */
  num?: number
  skus?: TopSku[] | { sku?: TopSku[] }
  modified?: string
}

export interface TopOrder {
  oid?: number
  oid_str?: string
  num_iid?: number
  sku_id?: string | number
  outer_iid?: string
  outer_sku_id?: string
  num?: number
  refund_status?: string
  status?: string
}

export interface TopTrade {
  tid?: number
  tid_str?: string
  status?: string
  modified?: string
  created?: string
  orders?: TopOrder[] | { order?: TopOrder[] }
}

/** A list as simplify=true writes it, or the wrapped form of a non-simplified answer. */
export function listOf<T>(value: T[] | Record<string, T[] | undefined> | undefined): T[] {
  if (!value) return []
  if (Array.isArray(value)) return value
  const inner = Object.values(value)[0]
  return Array.isArray(inner) ? inner : []
}
