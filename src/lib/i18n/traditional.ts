// Simplified → Traditional Chinese (Taiwan, with Taiwanese phrasing) through OpenCC's dictionaries (opencc-js), so
// zh-TW text is derived from the hand-written zh-CN text instead of kept as a third copy that drifts.
import { Converter } from 'opencc-js/cn2t'

type Convert = (text: string) => string

let converter: Convert | undefined
// Labels repeat on every page; converting one costs far more than a map look-up. Bounded so free text cannot grow it.
const cache = new Map<string, string>()
const CACHE_MAX = 5000

/** The converter, built once on first use (loading the dictionaries takes about a second). */
function convert(): Convert {
  const c = converter ?? (Converter({ from: 'cn', to: 'twp' }) as Convert)
  converter = c
  return c
}

/** `text` in Traditional characters: 对账 → 對賬, 设备 → 裝置. Text without Chinese comes back unchanged. */
export function toTraditional(text: string): string {
  if (!/[\u3400-\u9fff]/.test(text)) return text
  const hit = cache.get(text)
  if (hit !== undefined) return hit
  const out = convert()(text)
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!)
  cache.set(text, out)
  return out
}

