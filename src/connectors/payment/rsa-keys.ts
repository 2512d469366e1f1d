// Config checks of the payment connectors' RSA keys: each connector reads keys its own way (PEM only, or also the bare
// base64 a channel's key tool prints); a key passes when its reader makes an RSA key of it.
import type { KeyObject } from 'node:crypto'

/** A check that `read` makes an RSA key of a config value (the reader throws on anything else). */
export const readsRsaKey =
  (read: (text: string) => KeyObject) =>
  (text: string): boolean => {
    try {
      return read(text).asymmetricKeyType === 'rsa'
    } catch {
      return false
    }
  }
