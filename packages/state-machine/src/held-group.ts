import { MlsTlsError } from '@mlstls/codec';
import type { ClientState } from 'ts-mls';
import { encodeGroup } from './group.js';
import { decodeGroup } from './session.js';

/**
 * A connection's group state, kept encoded while the endpoint is idle. A two-member ts-mls
 * state is about 9 KB of objects on the heap and 1.1 KB encoded; an idle connection needs
 * none of it until the next commit (its records live in the traffic keys). Reading `state`
 * decodes it (about 70 to 100 us) and keeps the objects until `idle()` encodes them again
 * (about 20 us); only a state without an exporter secret is ever encoded (section 3).
 */
export class HeldGroup {
  #state: ClientState | undefined;
  #encoded: Uint8Array | undefined;
  /** The epoch of the encoded state: asked at every epoch_key_update, worth no decode. */
  #epoch: bigint | undefined;

  get epoch(): bigint | undefined {
    return this.#state?.groupContext.epoch ?? this.#epoch;
  }

  get state(): ClientState | undefined {
    if (this.#state === undefined && this.#encoded !== undefined) {
      const decoded = decodeGroup(this.#encoded);
      if (decoded === undefined) {
        throw new MlsTlsError('ERR_MLSTLS_INVALID_STATE', 'the held group state does not decode');
      }
      this.#forget();
      this.#state = decoded;
    }
    return this.#state;
  }

  set state(state: ClientState | undefined) {
    this.#forget();
    this.#state = state;
  }

  /** Encodes the state and lets its objects go, if it has no exporter secret left. */
  idle(): void {
    const state = this.#state;
    if (state === undefined || state.keySchedule.exporterSecret.length > 0) return;
    this.#encoded = encodeGroup(state);
    this.#epoch = state.groupContext.epoch;
    this.#state = undefined;
  }

  #forget(): void {
    this.#encoded?.fill(0);
    this.#encoded = undefined;
    this.#epoch = undefined;
  }
}
