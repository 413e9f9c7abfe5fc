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
  DownloadClient,
  downloadClient,
  type DownloadClientInit,
  type DownloadClientResult,
  DownloadError,
  clientAddress,
  isLoopbackHost,
  parseSubmitReply,
  readJournal,
  resolveCooperativeDownloadOptions,
  type CooperativeDownloadInit,
  type CooperativeDownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  type DownloadClientReport,
  type SubmitReply,
} from './cooperative.js'
export {
  runDownloadBench,
  downloadBenchCharts,
  couponCollectorExpectation,
  type DownloadBenchInit,
  type DownloadBenchRun,
  type DownloadBenchResult,
} from './bench.js'
export { defaultLines, defaultTextPath, loadTextFile, splitLines, TextFileError } from './text.js'
