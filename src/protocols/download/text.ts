// The text a line server hands out: the project's default (data/lines.txt, composed for distlab and
// public domain; see data/README.md) or any file, one line per line.
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, TextFileError } from '../../core/errors.js'
import { MAX_LINE_BYTES } from './constants.js'

export { TextFileError }

// src/protocols/download/ under tsx, dist/src/protocols/download/ once compiled.
const DEFAULT_TEXT_CANDIDATES = ['../../../data/lines.txt', '../../../../data/lines.txt']

/** Where the default text lives. */
export function defaultTextPath(): string {
  for (const rel of DEFAULT_TEXT_CANDIDATES) {
    const path = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(path)) return path
  }
  throw new TextFileError('the default text data/lines.txt is missing from this installation')
}

/** The lines of `text`: split on \n, a trailing \r dropped, the empty tail after a final \n dropped. */
export function splitLines(text: string): string[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  return lines
}

/** Reads a text file's lines; each must fit the protocol's line limit. */
export function loadTextFile(path: string): string[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new TextFileError(`cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  const lines = splitLines(text)
  if (lines.length === 0) throw new TextFileError(`${path} has no lines`)
  lines.forEach((l, i) => {
    if (Buffer.byteLength(l) > MAX_LINE_BYTES - 1)
      throw new TextFileError(`${path}: line ${i} is longer than ${MAX_LINE_BYTES - 1} bytes`)
  })
  return lines
}

/** The first `count` lines of the default text. */
export function defaultLines(count: number): string[] {
  const all = loadTextFile(defaultTextPath())
  if (!Number.isInteger(count) || count < 1 || count > all.length)
    throw new InvalidArgumentError(
      `lines must be between 1 and ${all.length} (the default text's length), got ${count}; serve a longer text with --file`,
      'lines',
    )
  return all.slice(0, count)
}
