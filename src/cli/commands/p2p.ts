// Commands for the P2P overlay (issue 4).
import type { Command } from 'commander'

export function registerP2pCommands(_program: Command): void {}
