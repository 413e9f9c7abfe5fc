// Small checks that every resolveXxxOptions() uses: each names the field and the rule it broke.
import { InvalidArgumentError } from './errors.js'

/** A check of a numeric option: the value if it is one from `min` to `max`, else an error naming `field`. */
export type NumberCheck = (field: string, value: unknown, min: number, max?: number) => number

/** An integer from `min` to `max`. */
export const checkInteger: NumberCheck = (field, value, min, max = Number.MAX_SAFE_INTEGER) =>
  checkNumeric(field, value, min, max, 'an integer', Number.isInteger)

/** A finite number from `min` to `max`. */
export const checkNumber: NumberCheck = (field, value, min, max = Number.POSITIVE_INFINITY) =>
  checkNumeric(field, value, min, max, 'a finite number', Number.isFinite)

function checkNumeric(
  field: string,
  value: unknown,
  min: number,
  max: number,
  kind: string,
  is: (v: number) => boolean,
): number {
  if (typeof value !== 'number' || !is(value))
    throw new InvalidArgumentError(`${field} must be ${kind}, got ${JSON.stringify(value)}`, field)
  if (value < min || value > max)
    throw new InvalidArgumentError(`${field} must be between ${min} and ${max}, got ${value}`, field)
  return value
}

export function checkProbability(field: string, value: unknown): number {
  return checkNumber(field, value, 0, 1)
}

export function checkString(field: string, value: unknown, pattern?: RegExp): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new InvalidArgumentError(`${field} must be a non-empty string`, field)
  if (pattern && !pattern.test(value))
    throw new InvalidArgumentError(`${field} must match ${pattern}, got ${JSON.stringify(value)}`, field)
  return value
}

export function checkPort(field: string, value: unknown): number {
  return checkInteger(field, value, 0, 65535)
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `50ms`, `1.5s`, `2m`, or a bare number of milliseconds → milliseconds. */
export function parseDuration(field: string, text: string | number): number {
  if (typeof text === 'number') return checkNumber(field, text, 0)
  const m = DURATION.exec(text.trim())
  if (!m)
    throw new InvalidArgumentError(
      `${field} must be a duration such as 50ms, 2s or 1m, got ${JSON.stringify(text)}`,
      field,
    )
  return Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!
}

/** `host:port` → parts, with a clear error. */
export function parseHostPort(
  field: string,
  text: string,
  defaultPort?: number,
): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(text.trim())
  if (!m || !m[1])
    throw new InvalidArgumentError(`${field} must be host:port, got ${JSON.stringify(text)}`, field)
  const port = m[2] === undefined ? defaultPort : Number(m[2])
  if (port === undefined)
    throw new InvalidArgumentError(`${field} needs a port: host:port, got ${JSON.stringify(text)}`, field)
  return { host: m[1], port: checkPort(field, port) }
}
