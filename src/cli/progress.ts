// Progress of long commands on stderr, so stdout (and --json's last line) stays the result. A terminal gets one line
// that updates in place; a pipe or a log file gets a line per step and, while a step runs, at most one line a
// second: "members check: 1500/5000 rows (30%)".
//
// TILLBRIDGE_PROGRESS chooses: 'always' (every step, however short), 'never' (nothing), or unset: a command's own
// default — a step that ends within its `delayMs` prints nothing, so quick runs keep stderr clean for scripts.
export type ProgressMode = 'auto' | 'always' | 'never'

export interface ProgressOut {
  write(text: string): unknown
  isTTY?: boolean
}

export interface ProgressOptions {
  out?: ProgressOut
  mode?: ProgressMode
  /** In 'auto' mode, a step that ends sooner prints nothing (default 0: every step prints). */
  delayMs?: number
  /** Between two lines of one step in a pipe (default 1000); a terminal redraws at most every 100 ms. */
  intervalMs?: number
  now?: () => number
}

export interface ProgressStep {
  update(done: number, total?: number | null): void
  end(final?: { done?: number; total?: number | null }): void
}

export interface Progress {
  step(label: string, opts?: { total?: number | null; unit?: string }): ProgressStep
}

export function progressModeOf(env: Record<string, string | undefined> = process.env): ProgressMode {
  const v = env.TILLBRIDGE_PROGRESS?.trim().toLowerCase()
  return v === 'always' || v === 'never' ? v : 'auto'
}

/** "1500/5000 rows (30%)", or "1500 rows" while the total is not known. */
export function progressText(label: string, done: number, total: number | null | undefined, unit: string): string {
  if (total === null || total === undefined) return `${label}: ${done} ${unit}`
  const pct = total > 0 ? Math.floor((Math.min(done, total) * 100) / total) : 100
  return `${label}: ${done}/${total} ${unit} (${pct}%)`
}

const NOOP_STEP: ProgressStep = { update() {}, end() {} }

export function createProgress(opts: ProgressOptions = {}): Progress {
  const out = opts.out ?? process.stderr
  const mode = opts.mode ?? progressModeOf()
  const tty = out.isTTY === true
  const delay = mode === 'always' ? 0 : (opts.delayMs ?? 0)
  const interval = tty ? 100 : (opts.intervalMs ?? 1000)
  const now = opts.now ?? Date.now
  // The step whose line a terminal shows unfinished (no newline yet).
  let lineOf: object | null = null

  return {
    step(label, o = {}) {
      if (mode === 'never') return NOOP_STEP
      const me = {}
      const unit = o.unit ?? 'rows'
      const started = now()
      let total = o.total ?? null
      let done = 0
      let printed = false
      let last = -Infinity
      let ended = false
      let lastText = ''
      const show = (final: boolean) => {
        const text = progressText(label, done, total, unit)
        // A pipe does not get the same line twice (a step that ended where it last reported).
        if (!tty && final && text === lastText) return
        lastText = text
        if (tty) {
          if (lineOf && lineOf !== me) out.write('\n')
          out.write(`\r\x1b[2K${text}${final ? '\n' : ''}`)
          lineOf = final ? null : me
        } else out.write(`${text}\n`)
        printed = true
        last = now()
      }
      return {
        update(d, t) {
          if (ended) return
          done = d
          if (t !== undefined) total = t
          const at = now()
          if (at - started < delay || at - last < interval) return
          show(false)
        },
        end(final = {}) {
          if (ended) return
          ended = true
          if (final.done !== undefined) done = final.done
          if (final.total !== undefined) total = final.total
          // A quick step says nothing (unless asked to); one that showed progress always shows where it ended.
          if (printed || now() - started >= delay) show(true)
        },
      }
    },
  }
}
