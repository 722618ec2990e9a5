/**
 * What the driver is told about its transport. A binding's adapter calls these as its
 * runtime's transport reports them; after `destroy()` it may call them no more.
 */
export interface TransportListener {
  /** Bytes from the peer, split anywhere. The driver keeps no reference past its processing. */
  data(chunk: Uint8Array): void;
  /** The peer ended its sending direction (a TCP FIN). */
  end(): void;
  /** The transport failed (a reset, a refused write). */
  error(error: unknown): void;
  /** Room again after `write()` returned false. */
  drain(): void;
}

/**
 * A connected byte transport as the driver drives it: what a Node socket and a pair of Web
 * Streams both offer. The adapter of each binding is a dozen lines over its runtime's own.
 */
export interface DriverTransport {
  /** Queues bytes; false once the transport holds more than it wants to (then `drain`). */
  write(data: Uint8Array): boolean;
  /**
   * Ends the sending direction after what was written (a TCP half-close). Resolves once that
   * is flushed; it may never resolve when the peer reads nothing, so the driver bounds it.
   */
  end(): Promise<void>;
  /** Cuts the transport at once, in both directions, dropping what is queued. */
  destroy(): void;
  /** Stops (false) or restarts (true) the delivery of `data`. It starts reading. */
  setReading(reading: boolean): void;
}

/** Makes a transport that reports to `listener`. */
export type OpenTransport = (listener: TransportListener) => DriverTransport;

/**
 * What `duplexTransport` needs of a stream: a Node `Duplex` (a `net.Socket`), or anything
 * with its events and methods.
 */
export interface DuplexLike {
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'end' | 'close' | 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  write(data: Uint8Array): boolean;
  end(callback: () => void): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** A Node-style duplex stream (a `net.Socket`) as the driver's transport. */
export function duplexTransport(stream: DuplexLike): OpenTransport {
  return (listener) => {
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      listener.end();
    };
    stream.on('data', listener.data);
    stream.on('end', end);
    // A 'close' without 'end' (destroyed under it) is an end as well; after an 'error' the
    // driver has already failed and ignores it.
    stream.on('close', end);
    stream.on('error', listener.error);
    stream.on('drain', listener.drain);
    return {
      write: (data) => stream.write(data),
      end: () =>
        new Promise<void>((resolve) => {
          stream.end(() => resolve());
        }),
      destroy: () => {
        stream.destroy();
      },
      setReading: (reading) => {
        if (reading) stream.resume();
        else stream.pause();
      },
    };
  };
}
