#!/usr/bin/env node
// Writes data/lines.txt: 1200 distinct sentences composed from the phrase lists below by a seeded
// generator, so the text is the project's own work (dedicated to the public domain, CC0) and the
// same on every run. Usage: node data/compose.mjs > data/lines.txt
const subjects = [
  'The old lighthouse keeper',
  'A patient router',
  'The river pilot',
  'A tired courier',
  'The village bell ringer',
  'A curious student',
  'The night operator',
  'A lone telegraph clerk',
  'The harbour master',
  'A wandering cartographer',
  'The quiet librarian',
  'A young signal officer',
  'The ferry captain',
  'A careful archivist',
  'The mountain postman',
  'A sleepy watchman',
  'The weaver of nets',
  'A travelling tinker',
  'The baker at the crossroads',
  'A stubborn goatherd',
  'The keeper of the clock',
  'A restless sailor',
  'The schoolmistress',
  'A silent monk',
  'The orchard farmer',
  'A brave apprentice',
  'The canal lock keeper',
  'A gentle shepherd',
  'The station master',
  'A thoughtful engineer',
]
const verbs = [
  'carried',
  'counted',
  'copied',
  'mended',
  'guarded',
  'forwarded',
  'remembered',
  'whispered',
  'wrapped',
  'delivered',
  'checked',
  'sorted',
  'numbered',
  'repeated',
  'traced',
  'answered',
  'collected',
  'stamped',
  'signalled',
  'recorded',
]
const objects = [
  'a bundle of letters',
  'the evening news',
  'a lantern of green glass',
  'seven silver keys',
  'the missing page',
  'a map of the coast',
  'a basket of plums',
  'the ledger of tides',
  'a message in blue ink',
  'the chime of noon',
  'a coil of copper wire',
  'the list of names',
  'a song without words',
  'the weather report',
  'a parcel tied with string',
  'the last ferry ticket',
  'a handful of acorns',
  'the broken compass',
  'a jar of river stones',
  'the sealed envelope',
  'a story about the moon',
  'the count of sheep',
  'a flag of faded red',
  'the train timetable',
  'a drawing of the bridge',
  'the names of the stars',
  'a loaf of warm bread',
  'the spare lamp oil',
  'a note for the miller',
  'the tally of boats',
]
const places = [
  'across the frozen lake',
  'along the canal',
  'up the winding stair',
  'through the pine forest',
  'over the stone bridge',
  'past the sleeping town',
  'down to the harbour',
  'beyond the salt marsh',
  'around the market square',
  'under the railway arch',
  'into the valley',
  'along the sea wall',
  'through the orchard gate',
  'across the wheat fields',
  'beside the mill pond',
  'over the high pass',
  'down the cobbled lane',
  'toward the northern islands',
  'past the old fort',
  'through the falling snow',
  'along the riverbank',
  'up to the signal tower',
  'across the moorland',
  'into the quiet square',
  'beneath the chestnut trees',
]
const codas = [
  'before the sun was up',
  'while the kettle sang',
  'as the tide turned',
  'and nobody noticed',
  'without missing a single one',
  'just as the rain began',
  'long after midnight',
  'in perfect order',
  'twice, to be certain',
  'while the dogs were barking',
  'and then rested a while',
  'at the third bell',
  'as the swallows returned',
  'by the light of a candle',
  'and wrote it down at once',
  'when the frost was thick',
  'with a cheerful whistle',
  'though the road was long',
  'before the market closed',
  'and counted again at dusk',
]

let state = 0x2545f491
function next() {
  // xorshift32: small, seeded, deterministic.
  state ^= state << 13
  state >>>= 0
  state ^= state >>> 17
  state ^= state << 5
  state >>>= 0
  return state / 0x100000000
}
const pick = (list) => list[Math.floor(next() * list.length)]

const seen = new Set()
const lines = []
for (let guard = 0; lines.length < 1200 && guard < 100000; guard++) {
  const line = `${pick(subjects)} ${pick(verbs)} ${pick(objects)} ${pick(places)} ${pick(codas)}.`
  if (seen.has(line)) continue
  seen.add(line)
  lines.push(line)
}
process.stdout.write(lines.join('\n') + '\n')
