export {
  ConnectionDriver,
  type ConnectionEnd,
  type ConnectionEvents,
  type DriverOptions,
  type EndpointFactory,
  FLUSH_DEADLINE,
} from './driver.js';
export type { DriverTransport, OpenTransport, TransportListener } from './transport.js';
