/** Sessions in Redis, shared by a fleet. Install `@mlstls/storage-redis` beside `mlstls`: it is an optional peer. */
export * from '@mlstls/storage-redis';
