// Charts for the dashboard drawn on the server as inline SVG: no script, no CDN, nothing to load. Each chart carries a
// <title> and <desc> for assistive technology, a <title> per mark, and its numbers in a visually hidden table. Texts
// come in already in the reader's language.
import { html } from 'hono/html'
import type { Html } from './layout.ts'

/** One category of a chart: `value` draws the mark, `text` is what people read for it (a formatted amount). */
export interface Datum {
  key: string
  label: string
  value: number
  text: string
}

export interface ChartOptions {
  /** Element id (letters, digits, dashes): the figure's, and the prefix of its title and description ids. */
  id: string
  title: string
  data: Datum[]
  /** Fill of the bars or stroke of the line, e.g. '#1f6feb'. */
  color: string
  /** Axis tick labels (ticks are round values of the same unit as `value`). */
  format: (value: number) => string
  /** Names of the category and value columns, for the axis titles and the data table. */
  categoryName: string
  valueName: string
  /** What the chart says when every value is zero. */
  empty: string
  /** The description: how many categories have data and the largest, e.g. `4 hours with sales; the most at 14:00: ¥53.80`. */
  describe: (top: Datum, count: number) => string
}

/** The colours of the home page's charts; a chart's marks are drawn in one solid colour. */
export const CHART_COLORS = {
  hours: '#1f6feb',
  days: '#0f766e',
  tenders: '#c2410c',
  stores: '#7c3aed',
} as const

/** Styles the charts need from the page: the box that hides the data table from sight (not from screen readers), the figure. */
export const CHART_CSS = `
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
figure.chart{margin:0;background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 12px}
figure.chart figcaption{font-weight:600;margin-bottom:6px}figure.chart svg{display:block;max-width:100%;height:auto}
figure.chart .chart-empty{color:#6b7684;margin:24px 0;text-align:center}
`

const AXIS = '#9aa5b1'
const GRID = '#e6e8eb'
const INK = '#1c2430'
const MUTED = '#5b6675'
const FONT = 'system-ui,-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif'

/**
 * The step of the value axis: the smallest 1, 2 or 5 × 10ⁿ (a whole number) that covers `max` in at most `ticks`
 * steps. Values are integers (minor units), so every tick is one too.
 */
export function niceStep(max: number, ticks = 4): number {
  if (max <= 0) return 1
  let magnitude = 1
  while (magnitude * 10 * ticks < max) magnitude *= 10
  for (const m of [1, 2, 5]) if (m * magnitude * ticks >= max) return m * magnitude
  return 10 * magnitude
}

/** The ticks of a value axis from 0 to the first step at or above `max`. */
export function axisTicks(max: number, ticks = 4): number[] {
  const step = niceStep(max, ticks)
  const top = Math.max(step, Math.ceil(max / step) * step)
  const out: number[] = []
  for (let v = 0; v <= top; v += step) out.push(v)
  return out
}

/** Positions on screen, rounded to tenths of a pixel (geometry only, never an amount). */
const px = (n: number) => Math.round(n * 10) / 10

/** A label cut to `max` characters for an axis; the full text stays in the mark's title and the table. */
const short = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s)

const hasData = (o: ChartOptions) => o.data.some((d) => d.value !== 0)

/** The figure around a chart: caption, the SVG (or the empty state), and the numbers as a table for screen readers. */
function figure(o: ChartOptions, kind: string, svg: () => Html): Html {
  if (!hasData(o)) {
    return html`<figure class="chart" id="${o.id}" data-chart="${kind}" data-empty="true"><figcaption>${o.title}</figcaption><p class="chart-empty" data-testid="chart-empty">${o.empty}</p></figure>`
  }
  return html`<figure class="chart" id="${o.id}" data-chart="${kind}"><figcaption>${o.title}</figcaption>${svg()}
<div class="sr-only" data-testid="chart-data"><table><caption>${o.title}</caption>
<thead><tr><th scope="col">${o.categoryName}</th><th scope="col">${o.valueName}</th></tr></thead>
<tbody>${o.data.filter((d) => d.value !== 0).map((d) => html`<tr><th scope="row">${d.label}</th><td>${d.text}</td></tr>`)}</tbody></table></div></figure>`
}

/** The SVG element with its accessible name (title) and description (the largest value and the count of values). */
function svgOpen(o: ChartOptions, width: number, height: number, body: Html): Html {
  const shown = o.data.filter((d) => d.value !== 0)
  const top = shown.reduce((a, b) => (b.value > a.value ? b : a), shown[0]!)
  return html`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${o.id}-title ${o.id}-desc" font-family="${FONT}" font-size="11">
<title id="${o.id}-title">${o.title}</title><desc id="${o.id}-desc">${o.describe(top, shown.length)}</desc>
${body}</svg>`
}

/** Horizontal grid lines with their value labels, over a plot from `top` to `bottom` between `left` and `right`. */
function valueGrid(ticks: number[], y: (v: number) => number, left: number, right: number, format: (v: number) => string): Html {
  return html`<g class="grid">${ticks.map(
    (t) => html`<line x1="${left}" x2="${right}" y1="${px(y(t))}" y2="${px(y(t))}" stroke="${t === 0 ? AXIS : GRID}" shape-rendering="crispEdges"/><text x="${left - 6}" y="${px(y(t) + 4)}" text-anchor="end" fill="${MUTED}">${format(t)}</text>`,
  )}</g>`
}

/** The frame of a chart whose values rise up the page (columns, a line): 640 × 260, its value scale and axis names. */
function verticalFrame(o: ChartOptions, m: { left: number; right: number; top: number; bottom: number }) {
  const W = 640
  const H = 260
  const plotW = W - m.left - m.right
  const plotH = H - m.top - m.bottom
  const ticks = axisTicks(Math.max(...o.data.map((d) => d.value)))
  const topValue = ticks[ticks.length - 1]!
  const y = (v: number) => m.top + plotH - (v / topValue) * plotH
  const axisNames = html`<text x="${m.left + plotW / 2}" y="${H - 6}" text-anchor="middle" fill="${MUTED}">${o.categoryName}</text>
<text x="12" y="${m.top + plotH / 2}" transform="rotate(-90 12 ${m.top + plotH / 2})" text-anchor="middle" fill="${MUTED}">${o.valueName}</text>`
  return { W, H, plotW, plotH, topValue, y, grid: valueGrid(ticks, y, m.left, W - m.right, o.format), axisNames }
}

/**
 * Vertical bars over an ordered category axis (the hours of a day): a bar for each category with a value, its value
 * written above it, a label under every `labelEvery`-th category.
 */
export function columnChart(o: ChartOptions & { labelEvery?: number }): Html {
  return figure(o, 'columns', () => {
    const m = { left: 76, right: 12, top: 44, bottom: 40 }
    const { W, H, plotW, plotH, topValue, grid, axisNames } = verticalFrame(o, m)
    const slot = plotW / o.data.length
    const barW = Math.max(2, slot * 0.7)
    const every = o.labelEvery ?? 1
    const body = html`${grid}
<g class="bars">${o.data.map((d, i) => {
      if (d.value === 0) return ''
      const x = m.left + i * slot + (slot - barW) / 2
      const h = Math.max(1, (d.value / topValue) * plotH)
      const cx = px(x + barW / 2)
      const ty = px(m.top + plotH - h - 4)
      return html`<rect class="bar" data-key="${d.key}" data-value="${d.value}" x="${px(x)}" y="${px(m.top + plotH - h)}" width="${px(barW)}" height="${px(h)}" fill="${o.color}" shape-rendering="crispEdges"><title>${d.label}: ${d.text}</title></rect>
<text class="value" x="${cx}" y="${ty}" transform="rotate(-90 ${cx} ${ty})" text-anchor="start" dominant-baseline="middle" fill="${INK}" font-size="10">${d.text}</text>`
    })}</g>
<g class="categories">${o.data.map((d, i) => (i % every === 0 ? html`<text x="${px(m.left + i * slot + slot / 2)}" y="${H - m.bottom + 14}" text-anchor="middle" fill="${MUTED}">${d.label}</text>` : ''))}</g>
${axisNames}`
    return svgOpen(o, W, H, body)
  })
}

/** Horizontal bars, one per category with a value (tenders, stores), largest first, the value written after each. */
export function barChart(o: ChartOptions): Html {
  return figure(o, 'bars', () => {
    const rows = o.data.filter((d) => d.value !== 0).sort((a, b) => b.value - a.value || a.label.localeCompare(b.label))
    const W = 640
    const rowH = 30
    const m = { left: 150, right: 96, top: 12, bottom: 40 }
    const H = m.top + rows.length * rowH + m.bottom
    const plotW = W - m.left - m.right
    const ticks = axisTicks(Math.max(...rows.map((d) => d.value)))
    const topValue = ticks[ticks.length - 1]!
    const x = (v: number) => m.left + (v / topValue) * plotW
    const plotBottom = m.top + rows.length * rowH
    const body = html`<g class="grid">${ticks.map(
      (t) => html`<line x1="${px(x(t))}" x2="${px(x(t))}" y1="${m.top}" y2="${plotBottom}" stroke="${t === 0 ? AXIS : GRID}" shape-rendering="crispEdges"/><text x="${px(x(t))}" y="${plotBottom + 14}" text-anchor="middle" fill="${MUTED}">${o.format(t)}</text>`,
    )}</g>
<g class="bars">${rows.map((d, i) => {
      const w = Math.max(1, (d.value / topValue) * plotW)
      const y = m.top + i * rowH + 5
      return html`<text x="${m.left - 8}" y="${y + 14}" text-anchor="end" fill="${INK}">${short(d.label, 22)}</text>
<rect class="bar" data-key="${d.key}" data-value="${d.value}" x="${m.left}" y="${y}" width="${px(w)}" height="${rowH - 10}" fill="${o.color}" shape-rendering="crispEdges"><title>${d.label}: ${d.text}</title></rect>
<text class="value" x="${px(m.left + w + 6)}" y="${y + 14}" fill="${INK}">${d.text}</text>`
    })}</g>
<text x="${m.left + plotW / 2}" y="${H - 6}" text-anchor="middle" fill="${MUTED}">${o.valueName}</text>`
    return svgOpen(o, W, H, body)
  })
}

/** A line through every category in order (the days of a week), a dot and the value at each point. */
export function lineChart(o: ChartOptions): Html {
  return figure(o, 'line', () => {
    const m = { left: 76, right: 40, top: 28, bottom: 40 }
    const { W, H, plotW, y, grid, axisNames } = verticalFrame(o, m)
    const step = o.data.length > 1 ? plotW / (o.data.length - 1) : 0
    const x = (i: number) => (o.data.length > 1 ? m.left + i * step : m.left + plotW / 2)
    const points = o.data.map((d, i) => `${px(x(i))},${px(y(d.value))}`).join(' ')
    const body = html`${grid}
<polyline class="line" points="${points}" fill="none" stroke="${o.color}" stroke-width="3" stroke-linejoin="round"/>
<g class="points">${o.data.map(
      (d, i) => html`<circle class="point" data-key="${d.key}" data-value="${d.value}" cx="${px(x(i))}" cy="${px(y(d.value))}" r="5" fill="${o.color}"><title>${d.label}: ${d.text}</title></circle>
${d.value !== 0 ? html`<text class="value" x="${px(x(i))}" y="${px(y(d.value) - 10)}" text-anchor="middle" fill="${INK}" font-size="10">${d.text}</text>` : ''}
<text x="${px(x(i))}" y="${H - m.bottom + 16}" text-anchor="middle" fill="${MUTED}">${d.label}</text>`,
    )}</g>
${axisNames}`
    return svgOpen(o, W, H, body)
  })
}
