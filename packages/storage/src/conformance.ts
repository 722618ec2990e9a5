// Placeholder: the conformance suite is being written.
import type { SessionStore, StoreOptions } from './store.js';

export type OpenStore = (options: StoreOptions) => SessionStore | Promise<SessionStore>;
