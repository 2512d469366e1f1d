// Turns a stored device job into the work a driver executes: the endpoint (address, profile, the printer a drawer
// is kicked through) and the payload rendered now from the sale or refund it names — ESC/POS bytes or ePOS XML by
// the printer's driver, the two display lines, a drawer pulse. Also the text preview of what the printer gets,
// decoded from the very bytes sent, for the dashboard.
import { and, eq } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { getMerchant } from '../core/merchants/service.ts'
import { devices } from '../core/devices/schema.ts'
import type { Device } from '../core/devices/registry.ts'
import type { DeviceJob } from '../core/devices/jobs.ts'
import { getSale } from '../core/sales/queries.ts'
import { invalid } from '../lib/errors.ts'
import { changeScreen, idleScreen } from './drivers/display.ts'
import { decodeEscpos } from './escpos-decode.ts'
import { kitchenTickets, loadReceipt } from './receipt.ts'
import { kitchenEpos, receiptEpos, renderEposXml } from './render/epos.ts'
import { kitchenEscpos, receiptEscpos, renderEscpos } from './render/escpos.ts'
import type { Block } from './render/text.ts'
import { defaultProfile, type DeviceEndpoint, type DeviceWork, type PrinterProfile, type TextEncoding, type WorkPayload } from './types.ts'

export function profileOf(device: Device): PrinterProfile {
  const o = device.options as { columns?: number; cjkMode?: boolean; drawerPin?: 2 | 5 }
  const base = defaultProfile((device.paperWidth as 58 | 80 | null) ?? 80, (device.encoding as TextEncoding | null) ?? 'gbk')
  return { ...base, columns: o.columns ?? base.columns, cjkMode: o.cjkMode ?? base.cjkMode, drawerPin: o.drawerPin ?? 2 }
}

export function endpointOf(device: Device, printer?: Device): DeviceEndpoint {
  const o = device.options as { scaleFormat?: 'cas22' | 'generic' }
  const e: DeviceEndpoint = { deviceId: device.id, kind: device.kind, driver: device.driver as DeviceEndpoint['driver'], address: device.address }
  if (device.kind.endsWith('_printer')) e.profile = profileOf(device)
  if (device.kind === 'scale') e.scaleFormat = o.scaleFormat ?? 'generic'
  if (device.kind === 'customer_display' && device.encoding) e.encoding = device.encoding as TextEncoding
  if (printer) e.via = endpointOf(printer)
  return e
}

/** The printer a drawer is kicked through. */
async function printerOf(tx: Tx, device: Device): Promise<Device | undefined> {
  if (!device.printerId) return undefined
  const [p] = await tx.select().from(devices).where(and(eq(devices.merchantId, device.merchantId), eq(devices.id, device.printerId)))
  return p
}

/** A page that proves a printer is wired right: its name, width and encoding, in Chinese and English. */
function testPageBlocks(name: string, profile: PrinterProfile, at: string): Block[] {
  const text = (t: string, align: 'left' | 'center' = 'left', size: 1 | 2 = 1): Block => ({ type: 'text', text: t, align, bold: size === 2, size })
  return [
    text('测试页 TEST PAGE', 'center', 2),
    text(name, 'center'),
    { type: 'rule' },
    text(`${profile.paperWidth}mm / ${profile.columns} / ${profile.encoding}`),
    text('中文打印正常 Chinese prints fine'),
    text(at),
    { type: 'feed', lines: 3 },
    { type: 'cut' },
  ]
}

export async function buildWork(tx: Tx, job: DeviceJob, device: Device, now: Date): Promise<{ work: DeviceWork; preview: string | null }> {
  const merchant = await getMerchant(tx, job.merchantId)
  const doc = job.document
  const reprint = job.reprintOf !== null
  let payload: WorkPayload
  let preview: string | null = null
  let endpoint = endpointOf(device)
  if (job.action === 'print') {
    const profile = profileOf(device)
    const epos = device.driver === 'epos_http'
    let bytes: Buffer
    if (doc.type === 'receipt' || doc.type === 'refund_receipt') {
      const ref = doc.type === 'receipt' ? { saleId: doc.saleId } : { refundId: doc.refundId }
      const model = await loadReceipt(tx, job.merchantId, ref, { reprint, timeZone: merchant.timeZone, now })
      bytes = receiptEscpos(model, profile, merchant.locale)
      payload = epos ? { format: 'epos', xml: receiptEpos(model, profile, merchant.locale) } : { format: 'escpos', base64: bytes.toString('base64') }
    } else if (doc.type === 'kitchen') {
      const station = doc.station ?? { deviceId: device.id, name: device.name, categoryIds: device.categoryIds }
      const [routed] = await kitchenTickets(tx, job.merchantId, doc.saleId, [station], {
        reprint,
        timeZone: merchant.timeZone,
      })
      const ticket = routed?.ticket
      if (!ticket) throw invalid('nothing_to_print', 'the sale has no line for this kitchen station')
      bytes = kitchenEscpos(ticket, profile, merchant.locale)
      payload = epos ? { format: 'epos', xml: kitchenEpos(ticket, profile, merchant.locale) } : { format: 'escpos', base64: bytes.toString('base64') }
    } else if (doc.type === 'test_page') {
      const blocks = testPageBlocks(device.name, profile, now.toISOString())
      bytes = renderEscpos(blocks, profile)
      payload = epos ? { format: 'epos', xml: renderEposXml(blocks, profile) } : { format: 'escpos', base64: bytes.toString('base64') }
    } else throw invalid('document_not_printable', `a ${doc.type} document is not printed`)
    preview = decodeEscpos(bytes, profile.encoding).text
  } else if (job.action === 'drawer') {
    const printer = await printerOf(tx, device)
    if (!printer) throw invalid('drawer_without_printer', `drawer ${device.name} has no printer to kick it`)
    if (!printer.enabled) throw invalid('printer_disabled', `the printer of drawer ${device.name} is switched off`)
    endpoint = endpointOf(device, printer)
    payload = { format: 'drawer', pin: (device.options as { drawerPin?: 2 | 5 }).drawerPin ?? 2 }
  } else if (job.action === 'display') {
    if (doc.type !== 'display') throw invalid('document_not_displayable', `a ${doc.type} document is not shown on a display`)
    let lines: [string, string]
    if (doc.screen === 'change' && doc.saleId) {
      const sale = await getSale(tx, job.merchantId, doc.saleId)
      const paid = sale.tenders.reduce((a, t) => a + (t.received ?? t.amount), 0)
      lines = changeScreen(paid, sale.changeGiven, sale.currency)
    } else if (doc.lines) lines = doc.lines
    else lines = idleScreen(merchant.name)
    payload = { format: 'display', lines }
    preview = lines.join('\n')
  } else payload = { format: 'weigh' }
  return {
    work: { jobId: job.id, seq: job.seq, action: job.action, endpoint, payload, expiresAt: job.expiresAt?.toISOString() ?? null, reprint },
    preview,
  }
}
