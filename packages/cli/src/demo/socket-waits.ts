// Waiting on mlstls sockets and checking what they carried, for the demos: every wait ends
// in a result or an error.
import { createHash } from 'node:crypto';
import { MlsTlsError, type MlsTlsSocket } from '@mlstls/node';

export const digest = (data: Uint8Array) =>
  createHash('sha256').update(data).digest('hex').slice(0, 16);

/** What a socket has read so far, and how it ended. */
export interface Received {
  /** Everything read, in order. */
  bytes(): Buffer;
  /** Resolves once `length` bytes in all have arrived; rejects if the socket fails first. */
  until(length: number): Promise<void>;
  /** Resolves with the socket's error, or `undefined`, once it has closed. */
  readonly closed: Promise<Error | undefined>;
}

export function receive(socket: MlsTlsSocket): Received {
  const chunks: Buffer[] = [];
  let length = 0;
  let failure: Error | undefined;
  let wake: (() => void)[] = [];
  const notify = () => {
    for (const waiter of wake) waiter();
    wake = [];
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    notify();
  });
  socket.on('error', (error) => {
    failure ??= error;
    notify();
  });
  const closed = new Promise<Error | undefined>((resolve) => {
    socket.once('close', () => {
      notify();
      resolve(failure);
    });
  });
  return {
    bytes: () => Buffer.concat(chunks),
    until: async (wanted) => {
      while (length < wanted) {
        if (failure !== undefined) throw failure;
        if (socket.destroyed) throw new Error(`closed after ${length} of ${wanted} bytes`);
        await new Promise<void>((resolve) => wake.push(resolve));
      }
    },
    closed,
  };
}

export function reached(socket: MlsTlsSocket, epoch: bigint): Promise<void> {
  if (socket.epoch >= epoch) return Promise.resolve();
  return new Promise((resolve) => {
    const listener = (now: bigint) => {
      if (now < epoch) return;
      socket.off('epoch', listener);
      resolve();
    };
    socket.on('epoch', listener);
  });
}

export function written(socket: MlsTlsSocket, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(data, (error) => (error ? reject(error) : resolve())),
  );
}

export function secured(socket: MlsTlsSocket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
}

export const errorName = (error: Error | undefined) =>
  error === undefined
    ? 'no error'
    : error instanceof MlsTlsError
      ? error.code
      : ((error as { code?: string }).code ?? error.name);
