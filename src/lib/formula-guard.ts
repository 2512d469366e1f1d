// CSV injection: a cell a spreadsheet would run as a formula (it starts with =, +, @, a tab or a return, or with -
// before anything but a number) is written with a leading apostrophe, so the spreadsheet shows it as text. Amounts
// such as -50.00 stay as they are. A file of ours read back (the catalog's) takes the apostrophe off again.

const FORMULA_START = /^[=+@\t\r]|^-(?!\d+(\.\d+)?$)/

// A text that itself starts with apostrophes before such a cell ('=A1) gets one more, so reading it back takes off
// only the one formulaSafe put there.

/** Whether a cell is formula text behind any number of apostrophes (none included). */
const guarded = (cell: string) => FORMULA_START.test(cell.replace(/^'+/, ''))

export const formulaSafe = (cell: string): string => (guarded(cell) ? `'${cell}` : cell)

/** The cell formulaSafe was given: the apostrophe it put before a formula-looking text taken off. */
export const formulaUnguarded = (cell: string): string => (cell.startsWith("'") && guarded(cell) ? cell.slice(1) : cell)
