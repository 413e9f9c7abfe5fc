// Seed 004's datagrams, told apart for the analyzer and the dashboard: the course packet format of
// distlab's gbn, dv and cn (src/protocols/gbn/wire.ts: DATA, ACK, DV, COST with a CRC-32), and
// the JSON shapes students' gbnnode/dvnode/cnnode programs send (a data or ack packet with a
// sequence number, or a distance vector). Only a name and a type come out (`gbn` `data 3`,
// `gbn` `ack 2`, `dv` `dv`...); anything else is left to the caller. Never throws.
import { decodePacket, PACKET_MAGIC, PACKET_OVERHEAD_BYTES } from '../protocols/gbn/wire.js'
import { decodeVector } from '../protocols/dv/wire.js'

export interface CourseMessage {
  proto: 'gbn' | 'dv'
  type: string
}

/** Larger JSON datagrams are not looked into. */
const MAX_JSON_BYTES = 64 * 1024
const VECTOR_KEYS = ['dv', 'vector', 'distance_vector', 'distances', 'routing_table', 'table', 'routes']
const SEQ_KEYS = ['seq', 'sequence', 'seq_num', 'seqnum', 'seqNum', 'sequence_number', 'ack']
const KIND_KEYS = ['t', 'type', 'kind', 'packet_type', 'msg_type']
const DATA_KEYS = ['c', 'data', 'char', 'payload', 'msg']

/** A course packet or a student's gbn/dv JSON datagram, else undefined. */
export function observeCourse(payload: Buffer): CourseMessage | undefined {
  try {
    if (payload.length >= PACKET_OVERHEAD_BYTES && payload[0] === PACKET_MAGIC) return binary(payload)
    if (payload.length > 1 && payload.length <= MAX_JSON_BYTES && payload[0] === 0x7b) return json(payload)
  } catch {
    // not one of them
  }
  return undefined
}

function binary(payload: Buffer): CourseMessage | undefined {
  const p = decodePacket(payload)
  if (p.type === 'data') return { proto: 'gbn', type: `data ${p.seq}` }
  if (p.type === 'ack') return { proto: 'gbn', type: `ack ${p.seq}` }
  if (p.type === 'cost') return { proto: 'dv', type: 'cost' }
  try {
    const v = decodeVector(p.payload)
    return { proto: 'dv', type: `dv ${v.entries.length} routes` }
  } catch {
    return { proto: 'dv', type: 'dv (bad vector)' }
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function json(payload: Buffer): CourseMessage | undefined {
  const doc: unknown = JSON.parse(payload.toString('utf8'))
  if (!isRecord(doc)) return undefined
  for (const k of VECTOR_KEYS) {
    const v = Object.hasOwn(doc, k) ? doc[k] : undefined
    if (typeof v === 'object' && v !== null) return { proto: 'dv', type: 'dv' }
  }
  // The fields may sit at the top or in a "header" object (as in the seed's handout).
  const header = isRecord(doc.header) ? doc.header : undefined
  const field = (keys: readonly string[]) => {
    for (const where of header ? [doc, header] : [doc])
      for (const k of keys) if (Object.hasOwn(where, k)) return where[k]
    return undefined
  }
  const kindField = field(KIND_KEYS)
  const kind = typeof kindField === 'string' ? kindField.toLowerCase() : ''
  const seqField = field(SEQ_KEYS)
  const seq = Number.isSafeInteger(seqField) ? (seqField as number) : undefined
  const hasData = field(DATA_KEYS) !== undefined && field(DATA_KEYS) !== null
  const isAck =
    kind.includes('ack') || (Object.hasOwn(doc, 'ack') && !hasData) || (header?.ack !== undefined && !hasData)
  if (kind.includes('dv') || kind.includes('vector') || kind.includes('route'))
    return { proto: 'dv', type: 'dv' }
  if (isAck) return { proto: 'gbn', type: seq === undefined ? 'ack' : `ack ${seq}` }
  if (seq !== undefined && (hasData || kind.includes('data'))) return { proto: 'gbn', type: `data ${seq}` }
  return undefined
}
