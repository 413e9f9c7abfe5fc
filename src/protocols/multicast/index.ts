export * from './constants.js'
export { SEED_JSON_PAYLOAD, BINARY_BLOB_BYTES, binaryBlob, datagramKind } from './wire.js'
export {
  IpMulticastSender,
  IpMulticastReceiver,
  resolveIpMulticastOptions,
  type IpMulticastInit,
  type IpMulticastOptions,
  type MulticastDatagram,
} from './ip.js'
export {
  GroupMulticast,
  GroupError,
  groupMulticast,
  checkGroupName,
  type GroupMulticastInit,
  type GroupDelivery,
  type GroupSendResult,
} from './groups.js'
