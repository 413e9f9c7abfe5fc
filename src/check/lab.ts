// Where a check puts programs that must each have an address of their own and whose traffic it
// must see on the wire: as root, one network namespace per program on a bridge of distlab's (the
// same plan as `distlab run`: 10.213.<block>.<slot>, the bridge at .1), so every packet between
// two programs crosses a real interface; otherwise distlab's loopback plan (127.<block>.x.y), where
// programs still get their own addresses but nothing can be counted per program.
import { loopbackHost } from '../core/ids.js'
import {
  bridgeAddress,
  createBridge,
  createNamespace,
  isolationAvailable,
  netnsName,
  removeIsolation,
  slotAddress,
} from '../foreign/netns.js'

export interface LabSlot {
  name: string
  host: string
  /** The prefix that runs a command in the slot's namespace; empty on loopback. */
  wrap: string[]
  /** The namespace, when isolated. */
  netns?: string
}

export class Lab {
  /** Why programs share the machine's namespace, when they do (said in the evidence). */
  note?: string
  private made = false
  constructor(
    readonly block: number,
    readonly isolated: boolean,
  ) {}

  /** Isolates when the machine allows it (root, ip, iptables, nsenter); else the loopback plan. */
  static async open(block: number, isolate: 'auto' | boolean = 'auto'): Promise<Lab> {
    if (isolate === false) {
      const lab = new Lab(block, false)
      lab.note = 'isolation turned off'
      return lab
    }
    const can = await isolationAvailable()
    if (!can.ok) {
      if (isolate === true) throw new Error(`cannot isolate the programs: ${can.why}`)
      const lab = new Lab(block, false)
      lab.note = can.why
      return lab
    }
    const lab = new Lab(block, true)
    await removeIsolation(block) // what a crashed run of this block left behind
    await createBridge(block)
    lab.made = true
    return lab
  }

  /** The address programs reach the machine itself at (a server the check runs). */
  get hostAddress(): string {
    return this.isolated ? bridgeAddress(this.block) : `127.${this.block}.0.1`
  }

  /** A slot for a program: index 0 is the master, i is node/client i. */
  async slot(name: string, index: number): Promise<LabSlot> {
    if (!this.isolated) return { name, host: loopbackHost(index, this.block), wrap: [] }
    const slot = 2 + index
    const netns = await createNamespace(this.block, name, slot)
    return {
      name,
      host: slotAddress(this.block, slot),
      wrap: ['nsenter', `--net=/run/netns/${netns}`, '--'],
      netns,
    }
  }

  /** The namespace name a slot has (or would have). */
  netnsOf(name: string): string {
    return netnsName(this.block, name)
  }

  /** Removes every namespace, veth, bridge and rule; harmless twice. */
  async close(): Promise<void> {
    if (!this.made) return
    this.made = false
    await removeIsolation(this.block)
  }
}
