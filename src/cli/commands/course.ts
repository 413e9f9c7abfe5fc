// Commands for gbnnode, dvnode, cnnode, topology (issue 6).
import type { Command } from 'commander'

export function registerCourseCommands(_program: Command): void {}
