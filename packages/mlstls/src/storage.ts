/** The session store interface, its record encoding and `MemoryStore`. */
export * from '@mlstls/storage';
