/** The connection driver under every binding, and the binding conformance suite's types. */
export * from '@mlstls/driver';
