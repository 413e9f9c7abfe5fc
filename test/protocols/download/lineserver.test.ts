// The line server speaks seed 003's protocol byte for byte, limits each address, and survives bad clients.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { LineServer } from '../../../src/protocols/download/index.js'

const SERVER_HOST = '127.50.1.1'
const TEXT = ['zero line', 'one line', 'two line', 'three line', 'four line']

/** A raw TCP client from a chosen loopback address that reads exact bytes. */
class Raw {
  private buf = ''
  private waiters: Array<() => void> = []
  closed = false
  constructor(readonly socket: Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      this.buf += d
      for (const w of this.waiters.splice(0)) w()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      for (const w of this.waiters.splice(0)) w()
    })
  }
  static open(port: number, localAddress: string): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: SERVER_HOST, port, localAddress })
      s.once('connect', () => resolve(new Raw(s)))
      s.once('error', reject)
    })
  }
  /** Resolves with the next `lines` complete lines, each with its '\n'. */
  async read(lines: number, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      let idx = -1
      let count = 0
      for (let i = 0; i < this.buf.length && count < lines; i++)
        if (this.buf[i] === '\n') {
          count++
          idx = i
        }
      if (count === lines) {
        const out = this.buf.slice(0, idx + 1)
        this.buf = this.buf.slice(idx + 1)
        return out
      }
      if (this.closed) throw new Error(`closed with ${JSON.stringify(this.buf)}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting; have ${JSON.stringify(this.buf)}`)
      await new Promise<void>((r) => {
        const t = setTimeout(r, left)
        this.waiters.push(() => {
          clearTimeout(t)
          r()
        })
      })
    }
  }
  async ask(text: string, lines: number): Promise<string> {
    this.socket.write(text)
    return this.read(lines)
  }
  waitClosed(timeoutMs = 10_000): Promise<boolean> {
    if (this.closed) return Promise.resolve(true)
    return new Promise((r) => {
      const t = setTimeout(() => r(false), timeoutMs)
      this.socket.once('close', () => {
        clearTimeout(t)
        r(true)
      })
    })
  }
  close(): void {
    this.socket.destroy()
  }
}

describe('line server protocol', { timeout: 120_000 }, () => {
  let server: LineServer
  const open: Raw[] = []
  const client = async (addr: string) => {
    const c = await Raw.open(server.address().port, addr)
    open.push(c)
    return c
  }

  before(async () => {
    server = new LineServer({ host: SERVER_HOST, port: 0, lines: TEXT, ratePerSecond: 1e6, burst: 1000 })
    await server.start()
  })
  after(async () => {
    for (const c of open) c.close()
    await server.stop()
    await server.stop() // twice is harmless
  })

  test('SENDLINE answers <n>\\n<text>\\n with a 0-based number and that line', async () => {
    const c = await client('127.50.0.11')
    const seen = new Set<number>()
    for (let i = 0; i < 60; i++) {
      const reply = await c.ask('SENDLINE\n', 2)
      const m = /^(\d+)\n(.*)\n$/.exec(reply)
      assert.ok(m, `reply ${JSON.stringify(reply)}`)
      const n = Number(m[1])
      assert.equal(m[2], TEXT[n])
      seen.add(n)
    }
    // 60 uniform draws from 5 lines: every line, 0 and 4 included, shows up.
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4])
  })

  test('SESSION RESET answers Ok', async () => {
    const c = await client('127.50.0.11')
    assert.equal(await c.ask('SESSION RESET\n', 1), 'Ok\n')
  })

  test('SUBMIT of every line correct: SUCCESS with id, address and counts', async () => {
    const c = await client('127.50.0.12')
    await c.ask('SESSION RESET\n', 1)
    await c.ask('SENDLINE\n', 2)
    const body = TEXT.map((t, n) => `${n}\n${t}\n`).join('')
    const reply = await c.ask(`SUBMIT\nteam@course\n${TEXT.length}\n${body}`, 1)
    assert.match(reply, /^SUBMIT SUCCESS: team@course - 127\.50\.0\.12 - 5, 0, 5, 1, \d+\.\d{3}\n$/)
  })

  test('SUBMIT counts wrong text, out-of-range and repeated numbers as incorrect', async () => {
    const c = await client('127.50.0.12')
    const pairs = [
      '0\nzero line\n',
      '1\nnot the line\n',
      '5\nbeyond the end\n',
      '0\nzero line\n',
      '2 \ntwo line\n',
    ]
    const reply = await c.ask(`SUBMIT\nme\n${pairs.length}\n${pairs.join('')}`, 1)
    assert.match(reply, /^SUBMIT SUCCESS: me - 127\.50\.0\.12 - 2, 3, 5, /)
  })

  test('SUBMIT FAILED names the reason, and the connection stays usable', async () => {
    const c = await client('127.50.0.13')
    assert.equal(await c.ask('SUBMIT\nme\nmany\n', 1), 'SUBMIT FAILED: me - invalid count "many"\n')
    assert.match(await c.ask('SENDLINE\n', 2), /^\d\n.+\n$/)
    // A bad line number is reported once the announced pairs are all read.
    assert.equal(
      await c.ask('SUBMIT\nme\n2\n0\nzero line\nx1\none line\n', 1),
      'SUBMIT FAILED: me - invalid line number "x1" in pair 2\n',
    )
    assert.equal(await c.ask('SUBMIT\n\n1\n0\nzero line\n', 1), 'SUBMIT FAILED:  - empty id\n')
    assert.match(await c.ask('SUBMIT\nme\n0\n', 1), /^SUBMIT SUCCESS: me - 127\.50\.0\.13 - 0, 0, 0, 1, /)
  })

  test('a malformed command gets an ERROR line and the connection stays usable', async () => {
    const c = await client('127.50.0.14')
    assert.match(await c.ask('HELLO THERE\n', 1), /^ERROR: unknown command "HELLO THERE"/)
    assert.match(await c.ask('\n', 1), /^ERROR: empty command\n$/)
    assert.match(await c.ask('sendline\n', 1), /^ERROR: /)
    assert.match(await c.ask('SENDLINE\r\n', 2), /^\d\n.+\n$/)
    assert.equal(await c.ask('SESSION RESET\n', 1), 'Ok\n')
  })

  test('a client sending a huge line is cut off while another keeps being served', async () => {
    const bad = await client('127.50.0.15')
    const good = await client('127.50.0.16')
    const chunk = Buffer.alloc(1024 * 1024, 'a')
    let sent = 0
    // Up to 100 MB without a newline; the server cuts the connection long before.
    const flood = (async () => {
      while (sent < 100 && !bad.closed) {
        const ok = bad.socket.write(chunk)
        sent++
        if (!ok)
          await new Promise<void>((r) => {
            if (bad.closed) return r()
            bad.socket.once('drain', r)
            bad.socket.once('close', r)
          })
      }
    })()
    for (let i = 0; i < 20; i++) assert.match(await good.ask('SENDLINE\n', 2), /^\d\n.+\n$/)
    assert.equal(await bad.waitClosed(), true, 'the flooding connection is closed')
    await flood.catch(() => {})
    assert.ok(sent < 100, `cut off after ${sent} MB`)
    assert.ok(server.stats().cutOff >= 1)
    assert.match(await good.ask('SENDLINE\n', 2), /^\d\n.+\n$/)
  })

  test('a client that floods requests and never reads the replies is cut off', async () => {
    const bad = await client('127.50.0.17')
    const good = await client('127.50.0.18')
    bad.socket.pause() // never read
    const before = server.stats().cutOff
    const burst = Buffer.from('SENDLINE\n'.repeat(100_000))
    for (let i = 0; i < 40 && !bad.closed; i++) {
      bad.socket.write(burst)
      assert.match(await good.ask('SENDLINE\n', 2), /^\d\n.+\n$/)
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.equal(await bad.waitClosed(), true)
    assert.ok(server.stats().cutOff > before)
    assert.match(await good.ask('SENDLINE\n', 2), /^\d\n.+\n$/)
  })
})

describe('line server rate limit', { timeout: 60_000 }, () => {
  let server: LineServer
  const open: Raw[] = []
  after(async () => {
    for (const c of open) c.close()
    await server?.stop()
  })

  test('over the rate an address gets -1\\n\\n; the session survives reconnects; RESET clears it', async () => {
    let now = 0
    server = new LineServer({
      host: SERVER_HOST,
      port: 0,
      lines: TEXT,
      ratePerSecond: 10,
      burst: 2,
      now: () => now,
    })
    await server.start()
    const port = server.address().port
    const a = await Raw.open(port, '127.50.0.21')
    open.push(a)
    // Burst of 2, then the limit: one line per 100 ms.
    assert.match(await a.ask('SENDLINE\n', 2), /^\d\n/)
    assert.match(await a.ask('SENDLINE\n', 2), /^\d\n/)
    assert.equal(await a.ask('SENDLINE\n', 2), '-1\n\n')
    now = 99
    assert.equal(await a.ask('SENDLINE\n', 2), '-1\n\n')
    now = 100
    assert.match(await a.ask('SENDLINE\n', 2), /^\d\n/)
    assert.equal(await a.ask('SENDLINE\n', 2), '-1\n\n')
    // A new connection from the same address is the same session.
    a.close()
    const again = await Raw.open(port, '127.50.0.21')
    open.push(again)
    assert.equal(await again.ask('SENDLINE\n', 2), '-1\n\n')
    // Another address has its own limit.
    const b = await Raw.open(port, '127.50.0.22')
    open.push(b)
    assert.match(await b.ask('SENDLINE\n', 2), /^\d\n/)
    // SESSION RESET starts the address afresh.
    assert.equal(await again.ask('SESSION RESET\n', 1), 'Ok\n')
    assert.match(await again.ask('SENDLINE\n', 2), /^\d\n/)
    const s = server.session('127.50.0.21')!
    assert.equal(s.served, 1)
    assert.equal(s.rateLimited, 0)
  })

  test('a seeded server hands out the same sequence every time, restarted by SESSION RESET', async () => {
    const seq = async (srv: LineServer, addr: string, reset: boolean) => {
      const c = await Raw.open(srv.address().port, addr)
      open.push(c)
      if (reset) await c.ask('SESSION RESET\n', 1)
      const out: string[] = []
      for (let i = 0; i < 20; i++) out.push(await c.ask('SENDLINE\n', 2))
      return out.join('')
    }
    const s1 = new LineServer({ host: SERVER_HOST, port: 0, lineCount: 1000, ratePerSecond: 1e6, seed: 7 })
    await s1.start()
    try {
      const first = await seq(s1, '127.50.0.23', false)
      const again = await seq(s1, '127.50.0.24', true)
      assert.equal(again, first)
      assert.equal(s1.options.lines.length, 1000)
    } finally {
      await s1.stop()
    }
  })
})
