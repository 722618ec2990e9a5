export {
  deriveSecret,
  encodeHkdfLabel,
  type HashOptions,
  hkdfExpandLabel,
  hkdfExtract,
} from './hkdf.js';
export { formatKeyLogLine, type KeyLogEntry, parseKeyLogLine } from './key-log.js';
export {
  type ApplicationSecrets,
  deriveApplicationSecrets,
  deriveTrafficKeys,
  exportKeyingMaterial,
  isMasterSecretLength,
  MASTER_SECRET_EXPORTER_LABEL,
  nextTrafficSecret,
  type TrafficKeys,
} from './schedule.js';
