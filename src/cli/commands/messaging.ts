// Commands for unicast, broadcast, multicast, anycast (issue 3).
import type { Command } from 'commander'

export function registerMessagingCommands(_program: Command): void {}
