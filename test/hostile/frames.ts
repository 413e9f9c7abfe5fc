// Frames built byte by byte, the way an attacker would, without distlab's encoder: what a test
// sends is exactly the attack's shape, whatever the codec under test does.
import { connect, type Socket } from 'node:net'
import { crc32 } from 'node:zlib'

export interface RawFrameInit {
  header: Record<string, unknown>
  /** The body's bytes as sent (JSON text or anything else). */
  body: Buffer
  flags?: number
  /** Bytes between the body and the CRC (a sealed frame's auth trailer). */
  trailer?: Buffer
}

export function rawFrame(init: RawFrameInit): Buffer {
  const header = Buffer.from(JSON.stringify(init.header), 'utf8')
  const trailer = init.trailer ?? Buffer.alloc(0)
  const out = Buffer.alloc(2 + 1 + 1 + 2 + header.length + 4 + init.body.length + trailer.length + 4)
  let o = out.writeUInt16BE(0x444c, 0)
  o = out.writeUInt8(1, o)
  o = out.writeUInt8(init.flags ?? 0, o)
  o = out.writeUInt16BE(header.length, o)
  o += header.copy(out, o)
  o = out.writeUInt32BE(init.body.length, o)
  o += init.body.copy(out, o)
  o += trailer.copy(out, o)
  out.writeUInt32BE(crc32(out.subarray(0, o)), o)
  return out
}

/** A sealed frame's trailer: the key id, a signing time, a nonce and a MAC of the attacker's choosing. */
export function junkTrailer(keyId: string, signedAt = Date.now(), nonce = 'attacker-nonce-1'): Buffer {
  const t = Buffer.alloc(6)
  t.writeUIntBE(signedAt, 0, 6)
  return Buffer.concat([
    Buffer.from([keyId.length]),
    Buffer.from(keyId, 'latin1'),
    t,
    Buffer.from([nonce.length]),
    Buffer.from(nonce, 'latin1'),
    Buffer.alloc(32, 0x41),
  ])
}

/** JSON text nested `depth` deep: `[[[...0...]]]`. */
export function nestedJson(depth: number): Buffer {
  return Buffer.from('['.repeat(depth) + '0' + ']'.repeat(depth), 'latin1')
}

/** 4-byte big-endian length, then the frame (the TCP transport's stream format). */
export function prefixed(frame: Buffer): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(frame.length, 0)
  return Buffer.concat([p, frame])
}

/** A frame with a well-formed header of the attacker's naming and a JSON body. */
export function jsonFrame(
  proto: string,
  type: string,
  src: string,
  dst: string,
  body: unknown,
  id: string,
): Buffer {
  return rawFrame({
    header: { v: 1, id, proto, type, src, dst, ts: Date.now() },
    body: Buffer.from(JSON.stringify(body)),
  })
}

/** A TCP connection to a node's frame port from the attacker's address; its errors are ignored. */
export async function attackerSocket(host: string, port: number, from: string): Promise<Socket> {
  const sock = connect({ host, port, localAddress: from })
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
  sock.on('error', () => {})
  return sock
}
