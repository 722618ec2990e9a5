/** Sessions in SQLite (better-sqlite3). Install `@mlstls/storage-sqlite` beside `mlstls`: it is an optional peer, as it compiles a native addon. */
export * from '@mlstls/storage-sqlite';
