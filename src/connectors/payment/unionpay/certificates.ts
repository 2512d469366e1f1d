// UnionPay's signing certificate in its answers (signPubKeyCert), checked as the 5.1.0 SDKs check it before its key
// verifies anything: within its validity, issued by the configured middle certificate, which the configured root
// issued, and owned by UnionPay (the third @-separated part of its CN, 中国银联股份有限公司). UnionPay renews its
// signing certificate without notice; a connection that holds the root and middle certificates follows the renewal,
// where one holding the signing certificate's public key has to be edited.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'

export const UNIONPAY_CN_OWNER = '中国银联股份有限公司'

/** The certificate in `text` (PEM), or null when it holds none. */
function certificateOf(text: string): X509Certificate | null {
  try {
    return new X509Certificate(text)
  } catch {
    return null
  }
}

/** A CA certificate in PEM (UnionPay's root and middle certificates). */
export const isCaCertificatePem = (text: string): boolean => certificateOf(text)?.ca === true

/** Any X.509 certificate in PEM (the merchant's signing certificate is not a CA's). */
export const isCertificatePem = (text: string): boolean => certificateOf(text) !== null

/**
 * certId: the certificate's serial number in decimal, as UnionPay's SDKs read it from the merchant's PFX
 * (X509Certificate gives it in hex).
 */
export const certSerialDecimal = (pem: string): string => BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString()

/** Whether `privateKeyPem` is the key of the certificate `certPem`. */
export function keyMatchesCertificate(privateKeyPem: string, certPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(privateKeyPem))
  } catch {
    return false
  }
}

/** The owner in a UnionPay certificate's CN (041@Z2014-12-11@中国银联股份有限公司@00000001 → 中国银联股份有限公司). */
export function cnOwner(cert: X509Certificate): string | null {
  const cn = cert.subject.split('\n').find((part) => part.startsWith('CN='))
  return cn?.slice(3).split('@')[2] ?? null
}

/**
 * The key of the signing certificate an answer carries, once the certificate is shown to be UnionPay's; else why not.
 */
export function answerSigningKey(pem: string | undefined, chain: { root: string; middle: string }, now: Date): { key: KeyObject } | { refused: string } {
  if (!pem) return { refused: 'the answer carries no signing certificate (signPubKeyCert)' }
  const cert = certificateOf(pem)
  if (!cert) return { refused: 'the answer’s signing certificate (signPubKeyCert) is not a readable certificate' }
  const root = new X509Certificate(chain.root)
  const middle = new X509Certificate(chain.middle)
  if (now.getTime() < Date.parse(cert.validFrom) || now.getTime() > Date.parse(cert.validTo)) {
    return { refused: `the answer’s signing certificate is valid from ${cert.validFrom} to ${cert.validTo}, not at ${now.toISOString()}` }
  }
  if (!cert.checkIssued(middle) || !cert.verify(middle.publicKey)) return { refused: 'the answer’s signing certificate was not issued by the configured middle certificate' }
  if (!middle.checkIssued(root) || !middle.verify(root.publicKey)) return { refused: 'the configured middle certificate was not issued by the configured root certificate' }
  const owner = cnOwner(cert)
  if (owner !== UNIONPAY_CN_OWNER) return { refused: `the answer’s signing certificate belongs to ${owner ?? 'no one named in its CN'}, not ${UNIONPAY_CN_OWNER}` }
  return { key: cert.publicKey }
}
