// The per-message frame tally behind `send broadcast`'s cost line.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FrameTally, MAX_TALLIED_MESSAGES, idsOfBody } from '../../../src/protocols/broadcast/frame-tally.js'

test('a frame counts once for every message it carries or names; payload and control apart', () => {
  const t = new FrameTally()
  t.note(
    'msg',
    idsOfBody('msg', {
      m: [
        { o: 'node1~ab', q: 0 },
        { o: 'node1~ab', q: 1 },
      ],
    }),
    true,
  )
  t.note('msg', idsOfBody('msg', { m: [{ o: 'node1~ab', q: 0 }] }), true)
  t.note('ihave', idsOfBody('ihave', { i: [['node1~ab', 0]], h: [1] }), false)
  t.note('got', idsOfBody('got', { i: ['node1~ab.0'] }), false)
  t.note('prune', idsOfBody('prune', {}), false)
  assert.deepEqual(t.get('node1~ab.0'), {
    id: 'node1~ab.0',
    payload: 2,
    control: 2,
    byType: { msg: 2, ihave: 1, got: 1 },
  })
  assert.deepEqual(t.get('node1~ab.1'), { id: 'node1~ab.1', payload: 1, control: 0, byType: { msg: 1 } })
  assert.deepEqual(t.get('never'), { id: 'never', payload: 0, control: 0, byType: {} })
})

test('the tally is bounded: the oldest message is forgotten first', () => {
  const t = new FrameTally()
  for (let i = 0; i <= MAX_TALLIED_MESSAGES; i++) t.note('msg', [`o.${i}`], true)
  assert.equal(t.get('o.0').payload, 0)
  assert.equal(t.get('o.1').payload, 1)
  assert.equal(t.get(`o.${MAX_TALLIED_MESSAGES}`).payload, 1)
})
