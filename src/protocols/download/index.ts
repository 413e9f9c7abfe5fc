// Seed 003's cooperative download: the course's line server, cooperating clients with a master,
// and the speedup experiment.
export * from './constants.js'
export {
  LineServer,
  lineServer,
  resolveLineServerOptions,
  type LineServerInit,
  type LineServerOptions,
  type LineServerStats,
  type AddressSession,
} from './lineserver.js'
export { LineClient, LineProtocolError, type LineClientInit, type ServedLine } from './line-client.js'
export {
  CooperativeDownload,
  cooperativeDownload,
  type DownloadResult,
  type DownloadClientReport,
} from './cooperative.js'
export { readJournal } from './journal.js'
export {
  DownloadError,
  clientAddress,
  isLoopbackHost,
  resolveCooperativeDownloadOptions,
  type CooperativeDownloadInit,
  type CooperativeDownloadOptions,
} from './options.js'
export {
  DownloadClient,
  downloadClient,
  type DownloadClientInit,
  type DownloadClientResult,
} from './download-client.js'
export { parseSubmitReply, type SubmitReply } from './wire.js'
export type { DownloadProgress } from './progress.js'
export {
  runDownloadBench,
  couponCollectorExpectation,
  type DownloadBenchInit,
  type DownloadBenchRun,
  type DownloadBenchResult,
} from './bench.js'
export { defaultLines, defaultTextPath, loadTextFile, splitLines, TextFileError } from './text.js'
