/** The text of journal line `n` in the kill test (multi-byte characters, lengths that vary). */
export function journalText(n: number): string {
  return `line ${n} ${'é'.repeat(200 + (n % 300))}`
}
