// cnnode's own output line; tables and messages print as dvnode's (../dv/format.ts).
import { formatTimestamp, formatRate } from '../gbn/format.js'
import { formatDvEvent } from '../dv/format.js'
import type { DvEvent } from '../dv/dv.js'
import type { CnEvent } from './cn.js'
import { DISTANCE_DECIMALS } from './constants.js'

export function formatCnEvent(e: CnEvent | DvEvent, decimals = DISTANCE_DECIMALS): string[] {
  if (e.kind === 'link-status')
    return [
      `${formatTimestamp(e.at)} Link to ${e.link.to}: ${e.link.sent} packets sent, ${e.link.lost} packets lost, loss rate ${formatRate(e.link.lossRate)}`,
    ]
  return formatDvEvent(e, decimals)
}
