/** The record layer: framing, protection, handshake fragmentation and reassembly. */
export * from '@mlstls/record';
