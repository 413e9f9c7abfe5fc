// The msg body read in place (readMsg) against the schema it stands in for (MsgBody): both accept
// and refuse the same bodies, so dropping the per-message copy of the schema parse (issue 14 item
// 9: most of a flooded node's garbage) changed no rule of what a peer may send.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MsgBody, readMsg } from '../../../src/protocols/broadcast/wire.js'

const item = (over: Record<string, unknown> = {}) => ({
  o: 'n1~ab',
  q: 3,
  v: { x: 1 },
  s: 'tree',
  t: 5,
  h: 1,
  ...over,
})
const drop = (key: string) => {
  const w: Record<string, unknown> = item()
  delete w[key]
  return w
}

const bodies: Array<[string, unknown]> = [
  ['one message', { m: [item()] }],
  ['every optional field', { m: [item({ k: 'g' })], r: ['a.1'], g: ['b.2'], a: 2, n: 1, c: 'key' }],
  ['a null value', { m: [item({ v: null })] }],
  ['no messages', { m: [] }],
  ['m not an array', { m: item() }],
  ['10,001 messages', { m: Array.from({ length: 10_001 }, () => item()) }],
  ['an unknown body key', { m: [item()], x: 1 }],
  [
    'a __proto__ key',
    JSON.parse('{"m":[{"o":"a","q":1,"v":0,"s":"flood","t":1,"h":1}],"__proto__":{"a":1}}'),
  ],
  ['an unknown item key', { m: [item({ z: 1 })] }],
  ['no value', { m: [drop('v')] }],
  ['no origin', { m: [drop('o')] }],
  ['no hops', { m: [drop('h')] }],
  ['an empty origin', { m: [item({ o: '' })] }],
  ['a 101-character origin', { m: [item({ o: 'x'.repeat(101) })] }],
  ['a negative seq', { m: [item({ q: -1 })] }],
  ['a fractional seq', { m: [item({ q: 1.5 })] }],
  ['an unsafe seq', { m: [item({ q: 2 ** 60 })] }],
  ['a seq as text', { m: [item({ q: '1' })] }],
  ['an unknown strategy', { m: [item({ s: 'smoke' })] }],
  ['a kind other than g', { m: [item({ k: 'a' })] }],
  ['a negative sent-at', { m: [item({ t: -1 })] }],
  ['a fractional sent-at', { m: [item({ t: 1.5 })] }],
  ['hops over 10,000', { m: [item({ h: 10_001 })] }],
  ['hops 10,000', { m: [item({ h: 10_000 })] }],
  ['an item that is an array', { m: [[1, 2]] }],
  ['an item that is null', { m: [null] }],
  ['a receipt over 128 characters', { m: [item()], r: ['x'.repeat(129)] }],
  ['a receipt that is a number', { m: [item()], g: [1] }],
  ['a = 3', { m: [item()], a: 3 }],
  ['n = 2', { m: [item()], n: 2 }],
  ['a 301-character key', { m: [item()], c: 'k'.repeat(301) }],
  ['the second item bad', { m: [item(), item({ q: -2 })] }],
  ['null', null],
  ['an array', [item()]],
  ['text', 'msg'],
]

test('readMsg accepts exactly what MsgBody accepts, and returns the body itself', () => {
  for (const [what, body] of bodies) {
    const schema = MsgBody.safeParse(body).success
    const read = readMsg(body)
    assert.equal(read !== undefined, schema, `${what}: schema ${schema ? 'accepts' : 'refuses'}`)
    if (read) assert.equal(read, body, `${what}: no copy`)
  }
})
