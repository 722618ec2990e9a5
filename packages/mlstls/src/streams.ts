/** The runtime-neutral binding over Web Streams. */
export * from '@mlstls/streams';
