// Seed 004's datagrams told apart: distlab's course packet format and students' JSON shapes; garbage
// (truncated, bad CRC, hostile JSON) is left alone, never thrown.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { observeCourse } from '../../src/monitor/course.js'
import { encodePacket } from '../../src/protocols/gbn/wire.js'
import { encodeCost, encodeVector } from '../../src/protocols/dv/wire.js'

const j = (v: unknown) => Buffer.from(JSON.stringify(v))

test('course packets: data, ack, dv and cost', () => {
  const data = encodePacket({ type: 'data', seq: 7, payload: Buffer.from('h') })
  assert.deepEqual(observeCourse(data), { proto: 'gbn', type: 'data 7' })
  assert.deepEqual(observeCourse(encodePacket({ type: 'ack', seq: 3 })), { proto: 'gbn', type: 'ack 3' })
  const dv = encodePacket({
    type: 'dv',
    seq: 1,
    payload: encodeVector({
      entries: [
        [1111, 0],
        [2222, 1.5],
      ],
    }),
  })
  assert.deepEqual(observeCourse(dv), { proto: 'dv', type: 'dv 2 routes' })
  assert.deepEqual(observeCourse(encodePacket({ type: 'cost', payload: encodeCost(2) })), {
    proto: 'dv',
    type: 'cost',
  })
  // One flipped bit fails the CRC: not a course packet any more.
  const bad = Buffer.from(data)
  bad[18] = bad[18]! ^ 1
  assert.equal(observeCourse(bad), undefined)
  assert.equal(observeCourse(data.subarray(0, 10)), undefined)
})

test('students’ JSON: gbn data and acks with their sequence numbers, distance vectors', () => {
  assert.deepEqual(observeCourse(j({ t: 'data', seq: 4, c: 'a', end: false })), {
    proto: 'gbn',
    type: 'data 4',
  })
  assert.deepEqual(observeCourse(j({ t: 'ack', seq: 4 })), { proto: 'gbn', type: 'ack 4' })
  assert.deepEqual(observeCourse(j({ data: 'x', header: { sequence: 9, fin: true } })), {
    proto: 'gbn',
    type: 'data 9',
  })
  assert.deepEqual(observeCourse(j({ data: null, header: { sequence: 9, ack: true } })), {
    proto: 'gbn',
    type: 'ack 9',
  })
  assert.deepEqual(observeCourse(j({ from: 1111, dv: { '2222': 1 } })), { proto: 'dv', type: 'dv' })
  assert.deepEqual(observeCourse(j({ type: 'routing', table: [] })), { proto: 'dv', type: 'dv' })
})

test('other datagrams and hostile input are left alone', () => {
  for (const payload of [
    j({ message: 'hello' }),
    j([1, 2, 3]),
    Buffer.from('{"__proto__": {"seq": 1, "t": "ack"}, "c": "x"}'),
    j({ seq: 'NaN', c: 'x' }),
    Buffer.from('{"t": "data", "seq": 1'),
    Buffer.from('{'.repeat(100_000)),
    Buffer.alloc(0),
    Buffer.from([0x67]),
    Buffer.alloc(30, 0x67),
  ])
    assert.equal(observeCourse(payload), undefined)
})
