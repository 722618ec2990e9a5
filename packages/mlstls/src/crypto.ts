/** The crypto providers: node:crypto, WebCrypto and @noble behind one small interface. */
export * from '@mlstls/crypto';
