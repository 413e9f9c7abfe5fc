// Byte budgets of what a broadcast node keeps from its peers (issue 14: an open cluster cannot
// refuse a well-formed broadcast, but it need not keep every one). Sizes are estimates: the JSON
// bytes of a message's value plus a fixed cost per entry, measured on Node 20 (V8 objects, Map
// entries and id strings of a stored message with a small value).

/**
 * Estimated bytes the store of payloads (for anti-entropy and GRAFT answers) may hold, and the
 * delivery log likewise; past it the origin holding the most gives up its oldest payloads. The seq
 * stays known as delivered (no duplicate delivery), but that message can no longer be sent on to a
 * peer that lacks it. 4 MiB is some 26,000 small messages (about 21,000 in the log), over ten times
 * what a node sees in a normal workload (Gossip Glomers 3e: 25 nodes x 100 ops/s x 20 s, about 2000
 * messages each; the Maelstrom broadcast workloads and the bench's runs: fewer), and measures about
 * 10 MB of heap for both. It was 8 MiB: a flood on an open cluster (issue 14 item 9) filled both and
 * each process's live heap grew ~24 MB, which V8's heap limit (a multiple of the live size) then
 * multiplied; bench/hostile's open #9 in two interleaved pairs on a loaded machine: 4 MiB master/
 * node1/node2 +47/+33/+46 and +68/+52/+64 MB, 8 MiB +76/+70/+82 and +77/+53/+51 MB.
 */
export const MAX_STORED_BYTES = 4 * 1024 * 1024
/** Estimated bytes of one stored payload beyond its value's JSON (Item object, Map entry). */
export const STORED_ITEM_OVERHEAD_BYTES = 160
/** Estimated bytes of one delivery log entry beyond its value's JSON (delivery object, id string). */
export const DELIVERY_OVERHEAD_BYTES = 200
/**
 * Seqs a node may hold as delivered above a gap (a missing lower seq), over all origins; past it the
 * origin with the most gives up its lowest gap: the missing seqs below count as abandoned and are
 * never delivered here. Seqs in order take no room at all (below `contiguous`), and each run of
 * consecutive seqs above a gap is one range, so this bounds the duplicate table to a few MB.
 */
export const MAX_SEEN_AHEAD = 50_000
