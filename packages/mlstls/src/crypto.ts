/** The crypto providers: node:crypto and @noble behind one small interface. */
export * from '@mlstls/crypto';
