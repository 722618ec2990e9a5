/** X.509 for mlstls, portable: certificates, trust anchors, chains, credentials. */
export * from '@mlstls/x509';
