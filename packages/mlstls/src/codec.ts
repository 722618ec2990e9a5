/** The wire codec: TLS presentation language, records, handshake messages, alerts, `MlsTlsError` and its codes. */
export * from '@mlstls/codec';
