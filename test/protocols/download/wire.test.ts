// The download wire format (download/wire.ts): every channel message a client sends decodes back as
// sent, and a line that is not one (bad JSON, an unknown `t`, a field of the wrong type) decodes to
// nothing, which the channel counts as a bad message instead of handing it to the client; the line
// server's SUBMIT replies parse back into what they say.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeChannelMessage,
  encodeChannelMessage,
  parseSubmitReply,
  submitFailedReply,
  submitRequest,
  submitSuccessReply,
  type ChannelMessage,
} from '../../../src/protocols/download/wire.js'

test('each channel message decodes as it was encoded', () => {
  const sent: ChannelMessage[] = [
    { t: 'hello', rank: 2 },
    { t: 'welcome', rank: 0, have: 17 },
    { t: 'not-master' },
    { t: 'line', n: 4, text: 'four' },
    {
      t: 'lines',
      lines: [
        [1, 'one'],
        [2, ''],
      ],
    },
    { t: 'complete', lines: 1000 },
    { t: 'submitted', reply: 'SUBMIT SUCCESS: x - 127.0.0.1 - 1, 0, 1, 1, 0.100' },
  ]
  for (const m of sent) {
    const line = encodeChannelMessage(m)
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line per message')
    assert.deepEqual(decodeChannelMessage(line.slice(0, -1)), m)
  }
})

test('a line that is not a channel message decodes to nothing', () => {
  for (const line of [
    '',
    'not json',
    '{"t":"hello"}',
    '{"t":"hello","rank":"0"}',
    '{"t":"welcome","rank":-1,"have":0}',
    '{"t":"line","n":1}',
    '{"t":"lines","lines":[[1]]}',
    '{"t":"lines","lines":"all"}',
    '{"t":"shutdown"}',
    '{"t":"__proto__"}',
    '[{"t":"hello","rank":0}]',
    'null',
  ])
    assert.equal(decodeChannelMessage(line), undefined, line)
})

test('SUBMIT requests and replies are what the line server and the client read', () => {
  assert.equal(
    submitRequest('team', [
      { n: 3, text: 'c' },
      { n: 0, text: 'a' },
    ]),
    'SUBMIT\nteam\n2\n3\nc\n0\na\n',
  )
  const ok = submitSuccessReply({
    id: 'team',
    address: '127.50.0.1',
    correct: 998,
    incorrect: 2,
    read: 1000,
    served: 1500,
    seconds: 12.3456,
  })
  assert.equal(ok, 'SUBMIT SUCCESS: team - 127.50.0.1 - 998, 2, 1000, 1500, 12.346\n')
  assert.deepEqual(parseSubmitReply(ok.trimEnd()), {
    ok: true,
    id: 'team',
    address: '127.50.0.1',
    correct: 998,
    incorrect: 2,
    read: 1000,
  })
  assert.deepEqual(parseSubmitReply(submitFailedReply('team', 'empty id').trimEnd()), {
    ok: false,
    id: 'team',
    reason: 'empty id',
  })
})
