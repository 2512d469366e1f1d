// The demo stores' hardware, all of it simulated on this machine and driven by the hub directly (route 'hub'):
// Shanghai's till has an 80 mm ESC/POS receipt printer with the cash drawer on its kick port, a pole display, an
// Epson ePOS kitchen printer for the deli counter, a counter scale and a Stripe Terminal reader; Hangzhou's deli
// tickets come out of an ESC/POS kitchen printer. A new run finds them by name and points them at this run's
// simulators, whose ports change every time.
import type { DemoApi } from './client.ts'
import type { DemoStore } from './seed.ts'
import type { Sandboxes } from '../sandboxes/index.ts'

interface DeviceRow {
  id: string
  name: string
  storeId: string
  kind: string
  driver: string
  address: string
  enabled: boolean
}

export interface DemoDevices {
  receiptPrinter: string
  drawer: string
  display: string
  kitchen: string
  scale: string
  terminal: string
  kitchenHangzhou: string
}

/** What each device is and where its simulator is this run. */
function specs(sandboxes: Sandboxes, stores: DemoStore[], deliCategoryId: string | undefined, stripeConnectionId: string) {
  const [sh, hz] = stores as [DemoStore, DemoStore]
  const d = sandboxes.devices
  const till = { storeId: sh.id, registerId: sh.registerId, route: 'hub' as const }
  const deli = deliCategoryId ? [deliCategoryId] : []
  return {
    receiptPrinter: { ...till, name: '前台小票机 Receipt printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: d.receiptPrinter.address, paperWidth: 80, encoding: 'gbk' },
    drawer: { ...till, name: '钱箱 Cash drawer', kind: 'cash_drawer', driver: 'drawer_via_printer' },
    display: { ...till, name: '顾客显示屏 Pole display', kind: 'customer_display', driver: 'display_tcp', address: d.display.address },
    kitchen: { storeId: sh.id, route: 'hub' as const, name: '熟食档口打印机 Deli printer (ePOS)', kind: 'kitchen_printer', driver: 'epos_http', address: d.eposPrinter.url, paperWidth: 80, categoryIds: deli },
    scale: { storeId: sh.id, route: 'hub' as const, name: '收银台电子秤 Counter scale', kind: 'scale', driver: 'scale_tcp', address: d.scale.address, scaleFormat: d.scaleFormat },
    terminal: { ...till, name: '刷卡机 Card reader (Stripe Terminal)', kind: 'card_terminal', driver: 'stripe_terminal', address: d.readerId, connectionId: stripeConnectionId },
    kitchenHangzhou: { storeId: hz.id, route: 'hub' as const, name: '熟食档口打印机 Deli printer', kind: 'kitchen_printer', driver: 'escpos_tcp', address: d.kitchenPrinter.address, paperWidth: 58, encoding: 'gbk', categoryIds: deli },
  }
}

/** Registers the devices, or points the ones a previous run registered at this run's simulators and enables them. */
export async function ensureDevices(api: DemoApi, sandboxes: Sandboxes, stores: DemoStore[], deliCategoryId: string | undefined, stripeConnectionId: string): Promise<DemoDevices> {
  const existing = (await api.get<{ items: DeviceRow[] }>('/api/v1/devices')).items
  const out: Partial<DemoDevices> = {}
  const all = specs(sandboxes, stores, deliCategoryId, stripeConnectionId)
  for (const key of ['receiptPrinter', 'drawer', 'display', 'kitchen', 'scale', 'terminal', 'kitchenHangzhou'] as const) {
    const spec: Record<string, unknown> = { ...all[key] }
    if (key === 'drawer') spec.printerId = out.receiptPrinter
    const found = existing.find((d) => d.name === spec.name && d.storeId === spec.storeId)
    if (found) {
      const { storeId: _s, kind: _k, ...changes } = spec
      out[key] = (await api.patch<DeviceRow>(`/api/v1/devices/${found.id}`, { ...changes, enabled: true })).id
    } else {
      out[key] = (await api.post<DeviceRow>('/api/v1/devices', spec)).id
    }
  }
  return out as DemoDevices
}

/** Disables every device (the simulators stop with the demo; a hub started later must not try to reach them). */
export async function disableDevices(api: DemoApi): Promise<void> {
  for (const d of (await api.get<{ items: DeviceRow[] }>('/api/v1/devices')).items) {
    if (d.enabled) await api.patch(`/api/v1/devices/${d.id}`, { enabled: false })
  }
}
