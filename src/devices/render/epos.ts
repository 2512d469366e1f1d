// Epson ePOS-Print XML for the layout blocks of text.ts: the SOAP envelope a TM printer with ePOS on board takes at
// /cgi-bin/epos/service.cgi. Built as text, never with a DOM: a DOM under a default namespace adds xmlns="" to
// children, and the printer then answers success without printing anything (Odoo's note on <image> and <cut>).
import type { KitchenTicket, PrinterProfile, ReceiptModel, TextEncoding } from '../types.ts'
import { kitchenBlocks, printable, receiptBlocks, type Block } from './text.ts'

const OPEN = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><epos-print xmlns="http://www.epson-pos.com/schemas/2011/03/epos-print">'
const CLOSE = '</epos-print></s:Body></s:Envelope>'

/** The ePOS `lang` of a profile's encoding: which font the printer uses for the text. */
const LANG: Record<TextEncoding, string> = { gbk: 'zh-cn', gb18030: 'zh-cn', big5: 'zh-tw', shift_jis: 'ja', cp437: 'en', cp858: 'en', utf8: 'en' }

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }

/** Text as XML character data; characters XML cannot carry at all (C0 controls, lone surrogates) become "?". */
export const escapeXml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ESCAPES[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '?')

const envelope = (body: string) => OPEN + body + CLOSE

export function renderEposXml(blocks: readonly Block[], profile: PrinterProfile): string {
  const lang = LANG[profile.encoding]
  const text = (s: string, align: string, em: boolean, double: boolean) =>
    `<text lang="${lang}" align="${align}" em="${em}" dw="${double}" dh="${double}">${escapeXml(printable(s, profile.encoding))}&#10;</text>`
  let body = ''
  for (const b of blocks) {
    switch (b.type) {
      case 'text':
        body += text(b.text, b.align, b.bold, b.size === 2)
        break
      case 'rule':
        body += text('-'.repeat(profile.columns), 'left', false, false)
        break
      case 'qr':
        body += `<text align="center"/><symbol type="qrcode_model_2" level="level_m" width="${b.moduleSize}">${escapeXml(b.data)}</symbol>`
        break
      case 'feed':
        body += `<feed line="${b.lines}"/>`
        break
      case 'cut':
        body += '<cut type="feed"/>'
        break
    }
  }
  return envelope(body)
}

export const receiptEpos = (model: ReceiptModel, profile: PrinterProfile, locale?: string) => renderEposXml(receiptBlocks(model, profile, locale), profile)

export const kitchenEpos = (ticket: KitchenTicket, profile: PrinterProfile, locale?: string) => renderEposXml(kitchenBlocks(ticket, profile, locale), profile)

/** The drawer kick element: drawer_1 pulses pin 2, drawer_2 pin 5, for 100 ms. */
export const eposPulse = (pin: 2 | 5) => `<pulse drawer="${pin === 5 ? 'drawer_2' : 'drawer_1'}" time="pulse_100"/>`

export const drawerKickEpos = (pin: 2 | 5) => envelope(eposPulse(pin))
