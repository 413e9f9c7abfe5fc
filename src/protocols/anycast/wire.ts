// What an anycast replica sends (seed 001's TCP greeting server): on every connection the greeting,
// then, when the replica has a name, a newline, the name and a newline; then it closes. A client
// sends nothing (what it does send is read up to a limit and ignored).
//   unnamed: Hello from server
//   named:   Hello from server\n<name>\n

/** The seed's greeting; the first line of every answer, byte for byte. */
export const GREETING = 'Hello from server'

/** The answer a replica sends, with its name on a second line when it has one. */
export function formatAnswer(name?: string): string {
  return name === undefined ? GREETING : `${GREETING}\n${name}\n`
}

/** An answer taken apart, or undefined when it does not start with the greeting. */
export function parseAnswer(text: string): { greeting: string; name?: string } | undefined {
  if (!text.startsWith(GREETING)) return undefined
  const [greeting = '', name] = text.split('\n', 2)
  const trimmed = name?.trim()
  return trimmed ? { greeting, name: trimmed } : { greeting }
}
