export {
  ConnectionDriver,
  type ConnectionEnd,
  type ConnectionEvents,
  type DriverOptions,
  type EndpointFactory,
  FLUSH_DEADLINE,
} from './driver.js';
export {
  type DriverTransport,
  type DuplexLike,
  duplexTransport,
  type OpenTransport,
  type TransportListener,
} from './transport.js';
