// What cnnode sends, all in the course packet format (../gbn/wire.ts):
//   probes:  Go-Back-N DATA packets over each link it measures, each carrying PROBE_PAYLOAD; the
//            receiver acknowledges them as gbnnode does, and the loss of probes is the link's cost
//   vectors: DV packets (../dv/wire.ts) whose link cost is set by the probing side of the link
//            (the other side takes it as the cost of that link) and left out by the other

/** The payload of every probe: one byte, "p". */
export const PROBE_PAYLOAD = new Uint8Array([0x70])
