// One side of a connection over a real socket: record layer, handshake reassembly and TLS key
// updates. A stand-in for the state machine that comes next: it has no MLS handshake and keys
// both directions from one epoch's master secret.
import type { Socket } from 'node:net';
import {
  AlertDescription,
  AlertLevel,
  ContentType,
  decodeAlert,
  encodeAlert,
  encodeHandshake,
  HandshakeType,
  KeyUpdateRequest,
  MlsTlsError,
} from '@mlstls/codec';
import type { ApplicationSecrets } from '@mlstls/key-schedule';
import { HandshakeReassembler, RecordFramer, RecordProtector } from '@mlstls/record';

export type Role = 'initiator' | 'responder';

export interface EndpointStats {
  bytesSent: number;
  bytesReceived: number;
  recordsSent: number;
  recordsReceived: number;
}

export class Endpoint {
  readonly stats: EndpointStats = {
    bytesSent: 0,
    bytesReceived: 0,
    recordsSent: 0,
    recordsReceived: 0,
  };
  readonly #socket: Socket;
  readonly #sealer: RecordProtector;
  readonly #opener: RecordProtector;
  readonly #framer = new RecordFramer();
  readonly #reassembler = new HandshakeReassembler();
  readonly #received: Uint8Array[] = [];
  #peerClosed = false;
  #writeClosed = false;
  #onPeerClose: () => void = () => {};
  /** Resolves when the peer's close_notify arrives. */
  readonly peerClosed = new Promise<void>((resolve) => {
    this.#onPeerClose = resolve;
  });
  /** Resolves with every byte received once the transport has closed. */
  readonly closed: Promise<Uint8Array>;

  constructor(socket: Socket, role: Role, secrets: ApplicationSecrets) {
    this.#socket = socket;
    const [mine, theirs] =
      role === 'initiator'
        ? [secrets.clientTrafficSecret, secrets.serverTrafficSecret]
        : [secrets.serverTrafficSecret, secrets.clientTrafficSecret];
    const options = { aead: 'aes-128-gcm', hash: 'sha256' } as const;
    this.#sealer = new RecordProtector({ ...options, trafficSecret: mine });
    this.#opener = new RecordProtector({ ...options, trafficSecret: theirs });
    this.closed = new Promise((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        try {
          this.#receive(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        } catch (error) {
          this.#fail(error);
          reject(error);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => {
        if (!this.#peerClosed) reject(new Error('transport closed without close_notify'));
        this.#sealer.destroy();
        this.#opener.destroy();
        resolve(Buffer.concat(this.#received));
      });
    });
  }

  get sendGeneration(): number {
    return this.#sealer.generation;
  }

  get receiveGeneration(): number {
    return this.#opener.generation;
  }

  write(data: Uint8Array): void {
    for (let at = 0; at < data.length; at += 2 ** 14) {
      if (this.#sealer.keyUpdateDue) this.keyUpdate(false);
      this.#send(ContentType.application_data, data.subarray(at, at + 2 ** 14));
    }
    this.stats.bytesSent += data.length;
  }

  /** TLS KeyUpdate: send it under the old key, then switch the sending key. */
  keyUpdate(requestPeer: boolean): void {
    const requestUpdate = requestPeer
      ? KeyUpdateRequest.update_requested
      : KeyUpdateRequest.update_not_requested;
    this.#send(
      ContentType.handshake,
      encodeHandshake({ msgType: HandshakeType.key_update, requestUpdate }),
    );
    this.#sealer.nextGeneration();
  }

  /** close_notify, then half-close the transport. */
  end(): void {
    this.#writeClosed = true;
    this.#send(
      ContentType.alert,
      encodeAlert({ level: AlertLevel.warning, description: AlertDescription.close_notify }),
    );
    this.#socket.end();
  }

  #send(contentType: ContentType, content: Uint8Array): void {
    this.#socket.write(this.#sealer.seal(contentType, content));
    this.stats.recordsSent++;
  }

  #receive(chunk: Uint8Array): void {
    this.#framer.push(chunk);
    for (let record = this.#framer.next(); record; record = this.#framer.next()) {
      if (this.#peerClosed) continue; // data after close_notify is ignored
      const { contentType, content } = this.#opener.open(record);
      this.stats.recordsReceived++;
      if (contentType !== ContentType.handshake) this.#reassembler.checkBoundary();
      if (contentType === ContentType.application_data) {
        this.#received.push(content.slice());
        this.stats.bytesReceived += content.length;
      } else if (contentType === ContentType.alert) {
        const alert = decodeAlert(content);
        if (alert.description !== AlertDescription.close_notify) {
          throw new Error(`peer sent alert ${alert.description}`);
        }
        this.#peerClosed = true;
        this.#onPeerClose();
      } else {
        for (const message of this.#reassembler.push(content)) {
          if (message.msgType !== HandshakeType.key_update) {
            throw new MlsTlsError('ERR_MLSTLS_UNEXPECTED_MESSAGE', `message ${message.msgType}`);
          }
          this.#opener.nextGeneration();
          // After our close_notify nothing more may be sent, the answer included.
          if (message.requestUpdate === KeyUpdateRequest.update_requested && !this.#writeClosed) {
            this.keyUpdate(false);
          }
        }
      }
    }
  }

  #fail(error: unknown): void {
    const alert = error instanceof MlsTlsError ? error.alert : AlertDescription.internal_error;
    try {
      this.#send(ContentType.alert, encodeAlert({ level: AlertLevel.fatal, description: alert }));
    } finally {
      this.#socket.destroy();
    }
  }
}
