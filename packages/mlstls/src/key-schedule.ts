/** docs/protocol.md section 3: the epoch key schedule, HKDF-Expand-Label, the key log line. */
export * from '@mlstls/key-schedule';
