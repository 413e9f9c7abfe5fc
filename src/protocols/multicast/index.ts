export * from './constants.js'
export {
  IpMulticastSender,
  IpMulticastReceiver,
  resolveIpMulticastOptions,
  binaryBlob,
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
