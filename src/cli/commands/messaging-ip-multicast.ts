// `distlab multicast send|recv` (issue 3, seed 001): IP multicast datagrams, plain JSON and a
// binary blob, to and from a group, as the seed's programs send and print them.
import type { Command } from 'commander'
import { intFlag, numberFlag } from '../context.js'
import {
  IpMulticastReceiver,
  IpMulticastSender,
  type MulticastDatagram,
} from '../../protocols/multicast/ip.js'
import {
  DEFAULT_GROUP,
  DEFAULT_PORT,
  DEFAULT_TTL,
  LOOPBACK_INTERFACE,
} from '../../protocols/multicast/constants.js'
import { binaryBlob, SEED_JSON_PAYLOAD } from '../../protocols/multicast/wire.js'
import { defaultInterface } from '../../protocols/multicast/default-interface.js'
import { printJson } from '../output.js'

interface MulticastCommonOptions {
  group: string
  port: number
  interface: string
  json?: boolean
}

async function multicastSend(o: MulticastCommonOptions & { ttl: number; count: number; interval: number }) {
  const sender = new IpMulticastSender({ group: o.group, port: o.port, ttl: o.ttl, interface: o.interface })
  await sender.start()
  let datagrams = 0
  let bytes = 0
  try {
    for (let i = 0; i < o.count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, o.interval))
      bytes += await sender.send(SEED_JSON_PAYLOAD)
      if (!o.json) process.stdout.write(`Sent JSON: ${SEED_JSON_PAYLOAD}\n`)
      bytes += await sender.send(binaryBlob())
      if (!o.json) process.stdout.write('Sent binary blob\n')
      datagrams += 2
    }
  } finally {
    await sender.stop()
  }
  if (o.json) printJson({ group: o.group, port: o.port, ttl: o.ttl, datagrams, bytes })
}

async function multicastRecv(o: MulticastCommonOptions & { duration: number; count: number }, cmd: Command) {
  // No --interface: loopback and the default route's interface, where a sender that does not set
  // IP_MULTICAST_IF sends (seed 001's programs as students write them). Receiving only.
  const byDefault = cmd.getOptionValueSource('interface') === 'default'
  const dflt = byDefault ? defaultInterface() : undefined
  const receiver = new IpMulticastReceiver({
    group: o.group,
    port: o.port,
    interface: o.interface,
    alsoJoin: dflt ? [dflt.address] : [],
  })
  await receiver.start()
  const received: MulticastDatagram[] = []
  // With --json the human lines go to stderr, so that a script still sees when the group is joined.
  const say = (line: string) => (o.json ? process.stderr : process.stdout).write(line + '\n')
  say(`Joined multicast group ${o.group}:${o.port}`)
  const label = (a: string) => (a === dflt?.address ? `${a} (${dflt.name}, the default route)` : a)
  say(`on interfaces: ${receiver.joined.map(label).join(', ')}`)
  await new Promise<void>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const finish = () => {
      if (timer) clearTimeout(timer)
      process.off('SIGINT', finish)
      process.off('SIGTERM', finish)
      resolve()
    }
    receiver.onDatagram((d) => {
      received.push(d)
      if (!o.json)
        process.stdout.write(
          d.kind === 'json'
            ? `Received from ('${d.from}', ${d.port}): ${d.text}\n`
            : `Received binary from ('${d.from}', ${d.port}): ${d.bytes} bytes\n`,
        )
      if (o.count > 0 && received.length >= o.count) finish()
    })
    if (o.duration > 0) timer = setTimeout(finish, o.duration * 1000)
    process.once('SIGINT', finish)
    process.once('SIGTERM', finish)
  })
  await receiver.stop()
  if (o.json)
    printJson({
      group: o.group,
      port: o.port,
      json: receiver.counts.json,
      binary: receiver.counts.binary,
      bytes: receiver.counts.bytes,
      received: received.map(({ from, port, kind, bytes, json }) => ({ from, port, kind, bytes, json })),
    })
  say('Leaving multicast group')
}

function multicastOptions(cmd: Command): Command {
  return cmd
    .option('--group <addr>', 'multicast group (224.0.0.0-239.255.255.255)', DEFAULT_GROUP)
    .addOption(intFlag('--port <port>', 'UDP port', [1, 65535], DEFAULT_PORT))
    .option('--interface <addr>', 'address of the interface to use', LOOPBACK_INTERFACE)
}

/** `multicast send` and `multicast recv`. */
export function registerIpMulticastCommands(program: Command): void {
  const multicast = program
    .command('multicast')
    .description('IP multicast as in seed 001: plain JSON and binary datagrams to a group')
  multicastOptions(
    multicast
      .command('send')
      .description(`send ${SEED_JSON_PAYLOAD} and a binary blob to the group, --count times`),
  )
    .addOption(intFlag('--ttl <n>', 'multicast TTL (hops)', [0, 255], DEFAULT_TTL))
    .addOption(intFlag('--count <n>', 'rounds of JSON + binary', [1, 1_000_000], 1))
    .addOption(intFlag('--interval <ms>', 'pause between rounds', [0, 3_600_000], 1000))
    .option('--json', 'print {group, port, ttl, datagrams, bytes} instead of the seed lines')
    .action((o) => multicastSend(o))
  multicastOptions(
    multicast
      .command('recv')
      .description('join the group and print every datagram (JSON or binary) until --duration ends or Ctrl-C')
      .addHelpText(
        'after',
        "\nWithout --interface, recv joins on loopback and on the default route's\n" +
          'interface (receiving only), so a sender that does not set IP_MULTICAST_IF\n' +
          'is heard; it prints the interfaces it joined on.\n',
      ),
  )
    .addOption(numberFlag('--duration <s>', 'seconds to listen (0: until interrupted)', [0], 0))
    .addOption(intFlag('--count <n>', 'stop after n datagrams (0: no limit)', [0], 0))
    .option('--json', 'print {group, port, json, binary, bytes, received} at the end')
    .action((o, cmd: Command) => multicastRecv(o, cmd))
}
