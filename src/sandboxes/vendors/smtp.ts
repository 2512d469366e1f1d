// A local SMTP server (smtp-server) standing in for a merchant's mail provider, for tests and the demo: it listens on
// 127.0.0.1 (port 0 = a free one), takes AUTH PLAIN/LOGIN when users are set (as a provider's submission port does),
// parses every accepted message with mailparser, and answers in Postfix's words: 535 for a wrong login, 550 5.1.1 for
// an unknown mailbox, 450 for a deferred one, 421 when `down`, 554 for refused content. `stall` accepts connections
// and never greets, to exercise client timeouts. Passwords are checked, never recorded.
import { SMTPServer, type SMTPServerSession } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'

export interface SmtpSandboxOptions {
  /** Logins the server accepts (username → password). When set, sending needs AUTH; when not, AUTH is not offered. */
  users?: Record<string, string>
  /** The server's name in its greeting and replies. */
  hostname?: string
  /** SIZE limit in bytes (default 10 MB). */
  maxSize?: number
}

export interface SmtpReply {
  code: number
  message: string
}

export interface ReceivedAttachment {
  filename: string
  contentType: string
  content: Buffer
}

export interface ReceivedMessage {
  /** The queue id the server answered with (`250 2.0.0 Ok: queued as …`). */
  queueId: string
  envelope: { from: string; to: string[] }
  /** The authenticated username, or null. */
  user: string | null
  raw: Buffer
  mail: ParsedMail
  subject: string
  /** With angle brackets, as in the header. */
  messageId: string | null
  text: string
  attachments: ReceivedAttachment[]
  receivedAt: Date
}

/** One step of a session as the server saw it; AUTH steps carry the username and outcome only. */
export interface SmtpEvent {
  at: Date
  session: string
  step: 'connect' | 'auth' | 'mail' | 'rcpt' | 'data'
  detail: string
  reply: number
}

const replyError = (r: SmtpReply) => Object.assign(new Error(r.message), { responseCode: r.code })

export function smtpSandbox(opts: SmtpSandboxOptions = {}) {
  const hostname = opts.hostname ?? 'smtp.sandbox.test'
  const users = opts.users
  const state = {
    messages: [] as ReceivedMessage[],
    log: [] as SmtpEvent[],
    /** Refuse every new session with 421, as a provider in maintenance does. */
    down: false,
    /** Accept connections but never send the greeting. */
    stall: false,
    /** Recipients refused at RCPT TO, by lower-case address. */
    recipientReplies: new Map<string, SmtpReply>(),
    /** A reply refusing the next messages at the end of DATA (content filter), or null. */
    dataReply: null as SmtpReply | null,
  }
  let server: SMTPServer | null = null
  let address = { host: '127.0.0.1', port: 0 }
  let queueSerial = 0x4f1a2c00

  const log = (session: SMTPServerSession, step: SmtpEvent['step'], detail: string, reply: number) => state.log.push({ at: new Date(), session: session.id, step, detail, reply })

  function build(): SMTPServer {
    return new SMTPServer({
      name: hostname,
      banner: 'ESMTP Postfix',
      logger: false,
      disabledCommands: users ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      authOptional: !users,
      authMethods: ['PLAIN', 'LOGIN'],
      authRequiredMessage: '5.7.0 Authentication required',
      // Plain-text AUTH is fine on loopback; a real provider offers it only over TLS.
      allowInsecureAuth: true,
      disableReverseLookup: true,
      size: opts.maxSize ?? 10 * 1024 * 1024,
      closeTimeout: 200,
      onConnect(session, callback) {
        if (state.stall) return log(session, 'connect', 'stalled', 0)
        if (state.down) {
          log(session, 'connect', 'refused', 421)
          return callback(replyError({ code: 421, message: `4.3.2 ${hostname} Service not available, closing transmission channel` }))
        }
        log(session, 'connect', session.remoteAddress, 220)
        callback()
      },
      onAuth(auth, session, callback) {
        const ok = users !== undefined && Object.hasOwn(users, auth.username ?? '') && users[auth.username ?? ''] === auth.password
        log(session, 'auth', `${auth.method} ${auth.username ?? ''} ${ok ? 'accepted' : 'refused'}`, ok ? 235 : 535)
        if (!ok) return callback(replyError({ code: 535, message: '5.7.8 Error: authentication failed: authentication failure' }))
        callback(null, { user: auth.username })
      },
      onMailFrom(from, session, callback) {
        log(session, 'mail', from.address, 250)
        callback()
      },
      onRcptTo(to, session, callback) {
        const reply = state.recipientReplies.get(to.address.toLowerCase())
        log(session, 'rcpt', to.address, reply?.code ?? 250)
        callback(reply ? replyError(reply) : undefined)
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = []
        stream.on('data', (c: Buffer) => chunks.push(c))
        stream.on('end', () => {
          if (stream.sizeExceeded) {
            log(session, 'data', 'too large', 552)
            return callback(replyError({ code: 552, message: '5.3.4 Message size exceeds fixed limit' }))
          }
          if (state.dataReply) {
            log(session, 'data', 'refused', state.dataReply.code)
            return callback(replyError(state.dataReply))
          }
          const raw = Buffer.concat(chunks)
          simpleParser(raw).then(
            (mail) => {
              const queueId = (queueSerial++).toString(16).toUpperCase()
              state.messages.push({
                queueId,
                envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
                user: typeof session.user === 'string' ? session.user : null,
                raw,
                mail,
                subject: mail.subject ?? '',
                messageId: mail.messageId ?? null,
                text: mail.text ?? '',
                attachments: mail.attachments.map((a) => ({ filename: a.filename ?? '', contentType: a.contentType, content: a.content })),
                receivedAt: new Date(),
              })
              log(session, 'data', `${raw.length} bytes`, 250)
              callback(null, `2.0.0 Ok: queued as ${queueId}`)
            },
            (err: Error) => callback(replyError({ code: 554, message: `5.6.0 Malformed message: ${err.message}` })),
          )
        })
      },
    })
  }

  return {
    state,
    get host() {
      return address.host
    },
    get port() {
      return address.port
    },
    /** Listens on 127.0.0.1, on `port` or a free one. */
    async start(port = 0): Promise<{ host: string; port: number }> {
      const s = build()
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.listen(port, '127.0.0.1', () => resolve())
      })
      const a = s.server.address()
      address = { host: '127.0.0.1', port: typeof a === 'object' && a ? a.port : port }
      server = s
      return { ...address }
    },
    /** Stops listening; new connections to the port are refused (ECONNREFUSED) until start() again. */
    async stop(): Promise<void> {
      const s = server
      server = null
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
    },
    /** Refuses a recipient at RCPT TO; by default as Postfix does for an unknown mailbox. */
    rejectRecipient(addr: string, reply: SmtpReply = { code: 550, message: `5.1.1 <${addr}>: Recipient address rejected: User unknown in virtual mailbox table` }) {
      state.recipientReplies.set(addr.toLowerCase(), reply)
    },
    /** Defers a recipient at RCPT TO with a 4xx, as greylisting or a full mailbox does. */
    deferRecipient(addr: string, reply: SmtpReply = { code: 450, message: `4.2.0 <${addr}>: Recipient address rejected: Greylisted, see https://postgrey.schweikert.ch/help/sandbox.test.html` }) {
      state.recipientReplies.set(addr.toLowerCase(), reply)
    },
    /** The messages delivered to `addr` (envelope recipient). */
    messagesTo(addr: string): ReceivedMessage[] {
      return state.messages.filter((m) => m.envelope.to.some((t) => t.toLowerCase() === addr.toLowerCase()))
    },
    /** The messages carrying this Message-ID (with angle brackets): more than one means it was sent again. */
    byMessageId(id: string): ReceivedMessage[] {
      return state.messages.filter((m) => m.messageId === id)
    },
    /** Forgets messages, log and knobs (not the users). */
    reset() {
      state.messages.length = 0
      state.log.length = 0
      state.down = false
      state.stall = false
      state.recipientReplies.clear()
      state.dataReply = null
    },
  }
}

export type SmtpSandbox = ReturnType<typeof smtpSandbox>
