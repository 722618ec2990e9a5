import { AlertDescription, AlertLevel } from './constants.js';
import { MlsTlsError } from './errors.js';
import { Reader } from './reader.js';

/**
 * RFC 8446 6 Alert. `description` keeps code points the RFC does not define: RFC 8446 6 says
 * an unknown alert is an error alert, so the receiver closes rather than failing to decode.
 */
export interface Alert {
  readonly level: AlertLevel;
  readonly description: AlertDescription | number;
}

export function encodeAlert(alert: Alert): Uint8Array {
  if (alert.level !== AlertLevel.warning && alert.level !== AlertLevel.fatal) {
    throw new MlsTlsError('ERR_MLSTLS_ENCODE', `alert level ${alert.level}`);
  }
  if (!Number.isInteger(alert.description) || alert.description < 0 || alert.description > 255) {
    throw new MlsTlsError('ERR_MLSTLS_ENCODE', `alert description ${alert.description}`);
  }
  return Uint8Array.of(alert.level, alert.description);
}

/** The alert a fatal error sends; close_notify and user_canceled go as warnings (RFC 8446 6). */
export function alertFor(description: AlertDescription): Alert {
  const closure =
    description === AlertDescription.close_notify || description === AlertDescription.user_canceled;
  return { level: closure ? AlertLevel.warning : AlertLevel.fatal, description };
}

/** Decodes one alert: exactly two bytes, a known level. */
export function decodeAlert(bytes: Uint8Array): Alert {
  const reader = new Reader(bytes, 'Alert');
  const level = reader.u8();
  const description = reader.u8();
  reader.end();
  if (level !== AlertLevel.warning && level !== AlertLevel.fatal) {
    throw new MlsTlsError('ERR_MLSTLS_ILLEGAL_PARAMETER', `alert level ${level}`);
  }
  return { level, description };
}
