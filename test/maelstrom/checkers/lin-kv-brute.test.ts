// The lin-kv search prunes (garbage values, interchangeable indefinite ops, dead cas): checked
// here against a brute-force search over every order of small random one-key histories, with
// few values so that reads, cas, failures and indefinite ops collide often.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkLinKv } from '../../../src/maelstrom/checkers/lin-kv.js'
import type { History, Op } from '../../../src/maelstrom/history.js'
import { MaelstromErrorCode } from '../../../src/maelstrom/history.js'

const { keyDoesNotExist: E20, preconditionFailed: E22 } = MaelstromErrorCode

type Outcome = 'ok' | 'fail20' | 'fail22' | 'info'
interface Spec {
  f: 'read' | 'write' | 'cas'
  v: number
  from: number
  outcome: Outcome
}

/** Real-time positions and the register step of each op the brute force considers. */
interface Plain {
  call: number
  ret: number
  step: (s: number | undefined) => { ok: boolean; next: number | undefined }
}

function build(specs: Spec[], schedule: number[]): { history: History; plain: Plain[] } {
  const history: History = []
  const plain: Plain[] = []
  const open: number[] = []
  let nextOp = 0
  let k = 0
  const callAt = new Map<number, number>()
  const push = (i: number, type: Op['type'], value: unknown, error?: [number, string]): void => {
    const s = specs[i] as Spec
    const op: Op = {
      index: history.length,
      process: i,
      client: `c${i + 1}`,
      type,
      f: s.f,
      value,
      time: history.length,
    }
    if (error !== undefined) op.error = error
    history.push(op)
  }
  const invokeValue = (s: Spec): unknown =>
    s.f === 'read' ? ['x', null] : s.f === 'write' ? ['x', s.v] : ['x', [s.from, s.v]]
  while (nextOp < specs.length || open.length > 0) {
    const pick = schedule[k++ % schedule.length] as number
    if (nextOp < specs.length && (open.length === 0 || pick % 2 === 0)) {
      callAt.set(nextOp, history.length)
      push(nextOp, 'invoke', invokeValue(specs[nextOp] as Spec))
      open.push(nextOp++)
      continue
    }
    const i = open.splice(pick % open.length, 1)[0] as number
    const s = specs[i] as Spec
    const call = callAt.get(i) as number
    const ret = history.length
    const iv = invokeValue(s)
    if (s.outcome === 'info') {
      push(i, 'info', iv, [0, 'timeout'])
      if (s.f !== 'read') plain.push({ call, ret: Infinity, step: effect(s) })
    } else if (s.outcome === 'ok') {
      push(i, 'ok', s.f === 'read' ? ['x', s.v] : iv)
      plain.push({ call, ret, step: effect(s) })
    } else if (s.outcome === 'fail20' && s.f !== 'write') {
      push(i, 'fail', iv, [E20, 'missing'])
      plain.push({ call, ret, step: (st) => ({ ok: st === undefined, next: st }) })
    } else if (s.outcome === 'fail22' && s.f === 'cas') {
      push(i, 'fail', iv, [E22, 'differs'])
      plain.push({ call, ret, step: (st) => ({ ok: st !== undefined && st !== s.from, next: st }) })
    } else {
      push(i, 'fail', iv, [11, 'unavailable'])
    }
  }
  return { history, plain }
}

function effect(s: Spec): Plain['step'] {
  if (s.f === 'read') return (st) => ({ ok: st === s.v, next: st })
  if (s.f === 'write') return () => ({ ok: true, next: s.v })
  return (st) => ({ ok: st === s.from, next: s.v })
}

/** Every order respecting real time; indefinite ops may be left out. */
function bruteForce(ops: Plain[]): boolean {
  const done = new Array<boolean>(ops.length).fill(false)
  const go = (state: number | undefined, left: number): boolean => {
    if (left === 0) return true
    let minRet = Infinity
    for (let i = 0; i < ops.length; i++) if (!done[i]) minRet = Math.min(minRet, (ops[i] as Plain).ret)
    if (minRet === Infinity) return true
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as Plain
      if (done[i] || op.call > minRet) continue
      const r = op.step(state)
      if (!r.ok) continue
      done[i] = true
      const found = go(r.next, op.ret === Infinity ? left : left - 1)
      done[i] = false
      if (found) return true
    }
    return false
  }
  return go(undefined, ops.filter((o) => o.ret !== Infinity).length)
}

const spec = fc.record({
  f: fc.constantFrom('read' as const, 'write' as const, 'cas' as const),
  v: fc.integer({ min: 1, max: 3 }),
  from: fc.integer({ min: 1, max: 3 }),
  outcome: fc.constantFrom(
    'ok' as const,
    'ok' as const,
    'fail20' as const,
    'fail22' as const,
    'info' as const,
  ),
})

test('property: lin-kv agrees with a brute-force search on small one-key histories', () => {
  let invalid = 0
  let valid = 0
  fc.assert(
    fc.property(
      fc.array(spec, { minLength: 1, maxLength: 7 }),
      fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 14 }),
      (specs, schedule) => {
        const { history, plain } = build(specs, schedule)
        const expected = bruteForce(plain)
        const r = checkLinKv(history)
        assert.equal(r.valid, expected)
        if (expected) valid++
        else invalid++
      },
    ),
    { numRuns: 3000 },
  )
  assert.ok(valid > 300 && invalid > 300, `both verdicts exercised: ${valid} valid, ${invalid} invalid`)
})
