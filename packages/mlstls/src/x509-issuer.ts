/** Makes X.509 certificates for tests, demos and development. */
export * from '@mlstls/x509-issuer';
