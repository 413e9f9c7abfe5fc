// The checker signature shared by every workload module.
import type { CheckResult, History } from '../history.js'
import type { CheckOptions } from './common.js'

export type { CheckOptions, CheckResult }

export type Checker = (history: History, opts?: CheckOptions) => CheckResult
