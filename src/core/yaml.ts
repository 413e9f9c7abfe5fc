// YAML from local files (scenarios, topologies) is read through here. The yaml library parses
// recursively: a document nested thousands deep overflows the stack, and a second parse after
// that has run out of memory. So the nesting is measured first, on the text, without recursion,
// and anything deeper than a person would write is refused with a clear error.
import { parse } from 'yaml'
import { InvalidArgumentError } from './errors.js'

/** Deepest nesting accepted (block indentation levels, `- ` items and flow brackets together). */
export const MAX_YAML_DEPTH = 64
/** Largest YAML text accepted, in characters. */
export const MAX_YAML_CHARS = 4 * 1024 * 1024

/** The deepest nesting of `text`, measured line by line (an upper bound; no recursion). */
export function yamlDepth(text: string): number {
  const indents: number[] = []
  let flow = 0
  let deepest = 0
  for (const line of text.split('\n')) {
    let i = 0
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++
    if (i === line.length || line[i] === '#') continue
    if (flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= i) indents.pop()
      indents.push(i)
    }
    // Compact sequences (`- - - x`) nest on one line.
    let dashes = 0
    let j = i
    while (line[j] === '-' && (line[j + 1] === ' ' || j + 1 === line.length)) {
      dashes++
      j += 2
      while (line[j] === ' ') j++
    }
    let quote = ''
    let lineFlow = flow
    for (let k = j; k < line.length; k++) {
      const c = line[k]!
      if (quote) {
        if (c === quote) quote = ''
        continue
      }
      if (c === '"' || c === "'") quote = c
      else if (c === '#' && (k === 0 || line[k - 1] === ' ')) break
      else if (c === '[' || c === '{') {
        flow++
        lineFlow = Math.max(lineFlow, flow)
      } else if ((c === ']' || c === '}') && flow > 0) flow--
    }
    deepest = Math.max(deepest, indents.length + dashes + lineFlow)
  }
  return deepest
}

/**
 * Parses a YAML document of a local file; too large, too deep or invalid YAML is an
 * InvalidArgumentError (the CLI's exit 2) whose message starts with `what`.
 */
export function parseYamlText(text: string, what: string): unknown {
  if (text.length > MAX_YAML_CHARS)
    throw new InvalidArgumentError(`${what} is larger than ${MAX_YAML_CHARS} characters`, 'file')
  const depth = yamlDepth(text)
  if (depth > MAX_YAML_DEPTH)
    throw new InvalidArgumentError(
      `${what} is nested ${depth} levels deep; at most ${MAX_YAML_DEPTH} are accepted`,
      'file',
    )
  try {
    return parse(text, { maxAliasCount: 100, uniqueKeys: true })
  } catch (err) {
    throw new InvalidArgumentError(
      `${what} is not valid YAML: ${String((err as Error).message).split('\n')[0]}`,
      'file',
    )
  }
}
