import { MlsTlsError } from '@mlstls/codec';

// The part of the `Deno` namespace this package uses, declared structurally: no Deno types
// package is needed to build it with Node's types, and nothing here exists outside Deno.

/** `Deno.NetAddr`. */
export interface NetAddr {
  readonly transport: 'tcp';
  readonly hostname: string;
  readonly port: number;
}

/** `Deno.Conn`: read and write by call, so that each direction closes on its own. */
export interface DenoConn {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** `Deno.Listener`. */
export interface DenoListener {
  readonly addr: NetAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

interface DenoNamespace {
  connect(options: { hostname?: string; port: number; transport?: 'tcp' }): Promise<DenoConn>;
  listen(options: { hostname?: string; port: number; transport?: 'tcp' }): DenoListener;
  readonly env: { get(key: string): string | undefined };
  writeTextFileSync(
    path: string,
    data: string,
    options?: { append?: boolean; create?: boolean; mode?: number },
  ): void;
}

/** `globalThis.Deno`, or `ERR_MLSTLS_UNSUPPORTED` outside Deno. */
export function deno(): DenoNamespace {
  const namespace = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (namespace === undefined) {
    throw new MlsTlsError('ERR_MLSTLS_UNSUPPORTED', '@mlstls/deno runs in Deno only');
  }
  return namespace;
}
