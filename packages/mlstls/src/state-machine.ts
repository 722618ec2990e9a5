/** The sans-IO initiator and responder of docs/protocol.md sections 4 to 6. */
export * from '@mlstls/state-machine';
