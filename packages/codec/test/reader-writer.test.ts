import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LengthBytes, Reader, Writer } from '../src/index.js';
import { expectError } from './helpers.js';

type Int =
  | { readonly width: 1 | 2 | 3 | 4; readonly value: number }
  | { readonly width: 8; readonly value: bigint };

const intArb: fc.Arbitrary<Int> = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((value) => ({ width: 1 as const, value })),
  fc.integer({ min: 0, max: 0xffff }).map((value) => ({ width: 2 as const, value })),
  fc.integer({ min: 0, max: 0xffffff }).map((value) => ({ width: 3 as const, value })),
  fc.integer({ min: 0, max: 0xffffffff }).map((value) => ({ width: 4 as const, value })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ width: 8 as const, value })),
);

/** Big-endian bytes of `value`, computed with BigInt, independently of Writer. */
function bigEndian(value: number | bigint, width: number): number[] {
  const v = BigInt(value);
  return Array.from({ length: width }, (_, i) =>
    Number((v >> BigInt(8 * (width - 1 - i))) & 0xffn),
  );
}

function write(writer: Writer, int: Int): void {
  switch (int.width) {
    case 1:
      writer.u8(int.value);
      break;
    case 2:
      writer.u16(int.value);
      break;
    case 3:
      writer.u24(int.value);
      break;
    case 4:
      writer.u32(int.value);
      break;
    case 8:
      writer.u64(int.value);
      break;
  }
}

function read(reader: Reader, width: Int['width']): number | bigint {
  switch (width) {
    case 1:
      return reader.u8();
    case 2:
      return reader.u16();
    case 3:
      return reader.u24();
    case 4:
      return reader.u32();
    case 8:
      return reader.u64();
  }
}

const lengthBytesArb = fc.constantFrom<LengthBytes>(1, 2, 3, 4);

/** A vector for a prefix of `lengthBytes` bytes: up to 255 bytes for uint8, more otherwise. */
const opaqueArb = lengthBytesArb.chain((lengthBytes) =>
  fc.record({
    lengthBytes: fc.constant(lengthBytes),
    data: fc.uint8Array({ maxLength: lengthBytes === 1 ? 255 : 1000 }),
  }),
);

type Tree =
  | { readonly leaf: Uint8Array }
  | { readonly lengthBytes: LengthBytes; readonly children: Tree[] };

const { tree: treeArb } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.uint8Array({ maxLength: 20 }).map((leaf): Tree => ({ leaf })),
    fc
      .record({
        lengthBytes: lengthBytesArb,
        children: fc.array(tie('tree'), { maxLength: 4 }),
      })
      .map((node): Tree => node),
  ),
}));

/** Widens every prefix too narrow for its body, as a real encoder's schema would. */
function fitted(tree: Tree): Tree {
  if ('leaf' in tree) return tree;
  const children = tree.children.map(fitted);
  const body = children.reduce((n, child) => n + treeBytes(child).length, 0);
  let lengthBytes = tree.lengthBytes;
  while (body >= 2 ** (8 * lengthBytes)) lengthBytes++;
  return { lengthBytes: lengthBytes as LengthBytes, children };
}

const fittedTreeArb = treeArb.map(fitted);

function writeTree(writer: Writer, tree: Tree): void {
  if ('leaf' in tree) {
    writer.u8(0).opaque(2, tree.leaf);
  } else {
    writer.u8(tree.lengthBytes).vector(tree.lengthBytes, (w) => {
      for (const child of tree.children) writeTree(w, child);
    });
  }
}

function readTree(reader: Reader): Tree {
  const tag = reader.u8();
  if (tag === 0) return { leaf: reader.opaque(2) };
  const lengthBytes = tag as LengthBytes;
  const inner = reader.vector(lengthBytes);
  const children: Tree[] = [];
  while (inner.remaining > 0) children.push(readTree(inner));
  return { lengthBytes, children };
}

/** Bytes of a tree's encoding, computed without Writer. */
function treeBytes(tree: Tree): number[] {
  if ('leaf' in tree) return [0, ...bigEndian(tree.leaf.length, 2), ...tree.leaf];
  const body = tree.children.flatMap(treeBytes);
  return [tree.lengthBytes, ...bigEndian(body.length, tree.lengthBytes), ...body];
}

describe('Writer and Reader round trips', () => {
  it('round-trips any sequence of uint8/16/24/32/64 as big-endian bytes of their exact widths', () => {
    fc.assert(
      fc.property(fc.array(intArb, { maxLength: 40 }), (ints) => {
        const writer = new Writer(1);
        for (const int of ints) write(writer, int);
        const bytes = writer.finish();
        expect(writer.length).toBe(ints.reduce((n, int) => n + int.width, 0));
        expect([...bytes]).toEqual(ints.flatMap((int) => bigEndian(int.value, int.width)));
        const reader = new Reader(bytes);
        for (const int of ints) expect(read(reader, int.width)).toBe(int.value);
        expect(reader.remaining).toBe(0);
        reader.end();
      }),
      { numRuns: 500 },
    );
  });

  it('reads uint32 values of 2^31 and above as positive numbers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2 ** 31, max: 2 ** 32 - 1 }), (value) => {
        const read = new Reader(new Writer().u32(value).finish()).u32();
        expect(read).toBe(value);
        expect(read).toBeGreaterThan(0);
      }),
    );
    expect(new Reader(Uint8Array.of(0xff, 0xff, 0xff, 0xff)).u32()).toBe(4294967295);
    expect(new Reader(Uint8Array.of(0x80, 0, 0, 0)).u32()).toBe(2147483648);
  });

  it('reads uint24 values of 2^23 and above as positive numbers', () => {
    expect(new Reader(Uint8Array.of(0xff, 0xff, 0xff)).u24()).toBe(0xffffff);
    expect(new Reader(Uint8Array.of(0x80, 0, 0)).u24()).toBe(0x800000);
  });

  it('round-trips uint64 2^64-1 and 2^63 exactly', () => {
    for (const value of [2n ** 64n - 1n, 2n ** 63n, 2n ** 32n, 0n]) {
      const bytes = new Writer().u64(value).finish();
      expect([...bytes]).toEqual(bigEndian(value, 8));
      expect(new Reader(bytes).u64()).toBe(value);
    }
    expect([...new Writer().u64(2n ** 64n - 1n).finish()]).toEqual(new Array(8).fill(0xff));
  });

  it('round-trips opaque vectors with 1, 2, 3 and 4 byte length prefixes', () => {
    fc.assert(
      fc.property(fc.array(opaqueArb, { maxLength: 6 }), (vectors) => {
        const writer = new Writer(1);
        for (const { lengthBytes, data } of vectors) writer.opaque(lengthBytes, data);
        const bytes = writer.finish();
        expect([...bytes]).toEqual(
          vectors.flatMap(({ lengthBytes, data }) => [
            ...bigEndian(data.length, lengthBytes),
            ...data,
          ]),
        );
        const reader = new Reader(bytes);
        for (const { lengthBytes, data } of vectors) {
          expect(reader.opaque(lengthBytes)).toEqual(data);
        }
        reader.end();
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips nested vector() structures of any depth and any prefix widths', () => {
    fc.assert(
      fc.property(fittedTreeArb, (tree) => {
        const writer = new Writer(1);
        writeTree(writer, tree);
        const bytes = writer.finish();
        expect([...bytes]).toEqual(treeBytes(tree));
        const reader = new Reader(bytes);
        expect(readTree(reader)).toEqual(tree);
        reader.end();
      }),
      { numRuns: 300 },
    );
  });

  it('returns byte fields as views into the input, without copying', () => {
    const input = Uint8Array.of(3, 7, 8, 9, 1);
    const reader = new Reader(input);
    const view = reader.opaque(1);
    expect(view.buffer).toBe(input.buffer);
    expect(view.byteOffset).toBe(1);
    expect([...reader.rest()]).toEqual([1]);
  });
});

describe('Reader rejects malformed input with decode_error', () => {
  it('rejects a read past the end of the input for every integer width', () => {
    for (const [width, length] of [
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 3],
      [8, 7],
    ] as const) {
      expectError(() => read(new Reader(new Uint8Array(length)), width), 'ERR_MLSTLS_DECODE', 50);
    }
  });

  it('rejects a vector whose length prefix runs past the end of the input', () => {
    fc.assert(
      fc.property(
        lengthBytesArb,
        fc.uint8Array({ maxLength: 50 }),
        fc.integer({ min: 1, max: 200 }),
        (lengthBytes, data, missing) => {
          const claimed = Math.min(data.length + missing, 2 ** (8 * lengthBytes) - 1);
          fc.pre(claimed > data.length);
          const bytes = Uint8Array.of(...bigEndian(claimed, lengthBytes), ...data);
          expectError(() => new Reader(bytes).opaque(lengthBytes), 'ERR_MLSTLS_DECODE', 50);
          expectError(() => new Reader(bytes).vector(lengthBytes), 'ERR_MLSTLS_DECODE', 50);
        },
      ),
    );
  });

  it('rejects a truncated length prefix', () => {
    expectError(() => new Reader(Uint8Array.of(0)).opaque(2), 'ERR_MLSTLS_DECODE', 50);
    expectError(() => new Reader(Uint8Array.of(0, 0, 0)).vector(4), 'ERR_MLSTLS_DECODE', 50);
  });

  it('rejects a vector length outside its <min..max> bounds', () => {
    expectError(() => new Reader(Uint8Array.of(1, 9)).opaque(1, 2), 'ERR_MLSTLS_DECODE', 50);
    expectError(
      () => new Reader(Uint8Array.of(3, 1, 2, 3)).opaque(1, 0, 2),
      'ERR_MLSTLS_DECODE',
      50,
    );
    expect([...new Reader(Uint8Array.of(2, 1, 2)).opaque(1, 2, 2)]).toEqual([1, 2]);
  });

  it('rejects trailing bytes at end()', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 20 }), (trailing) => {
        const reader = new Reader(Uint8Array.of(7, ...trailing));
        reader.u8();
        expect(reader.remaining).toBe(trailing.length);
        expectError(() => reader.end(), 'ERR_MLSTLS_DECODE', 50);
      }),
    );
  });

  it('rejects trailing bytes inside a nested vector without touching the outer reader', () => {
    const outer = new Reader(Uint8Array.of(2, 0xaa, 0xbb, 0xcc));
    const inner = outer.vector(1);
    expect(inner.u8()).toBe(0xaa);
    expectError(() => inner.end(), 'ERR_MLSTLS_DECODE', 50);
    expect(outer.u8()).toBe(0xcc);
    outer.end();
  });

  it('refuses a negative or fractional read length instead of moving backwards', () => {
    const reader = new Reader(Uint8Array.of(1, 2, 3));
    reader.u8();
    expectError(() => reader.bytes(-1), 'ERR_MLSTLS_INVALID_ARGUMENT', 80);
    expectError(() => reader.bytes(0.5), 'ERR_MLSTLS_INVALID_ARGUMENT', 80);
    expect(reader.remaining).toBe(2);
    expect(reader.u8()).toBe(2);
  });
});

describe('Writer refuses what it cannot encode with ERR_MLSTLS_ENCODE (internal_error)', () => {
  it('refuses integers out of range for their width, negative, fractional or NaN', () => {
    const cases: [string, (w: Writer) => unknown][] = [
      ['u8 256', (w) => w.u8(256)],
      ['u8 -1', (w) => w.u8(-1)],
      ['u8 1.5', (w) => w.u8(1.5)],
      ['u8 NaN', (w) => w.u8(Number.NaN)],
      ['u16 2^16', (w) => w.u16(0x10000)],
      ['u16 -1', (w) => w.u16(-1)],
      ['u24 2^24', (w) => w.u24(0x1000000)],
      ['u24 0.25', (w) => w.u24(0.25)],
      ['u32 2^32', (w) => w.u32(2 ** 32)],
      ['u32 -1', (w) => w.u32(-1)],
      ['u32 Infinity', (w) => w.u32(Number.POSITIVE_INFINITY)],
      ['u64 2^64', (w) => w.u64(2n ** 64n)],
      ['u64 -1', (w) => w.u64(-1n)],
    ];
    for (const [, write] of cases) {
      const writer = new Writer();
      expectError(() => write(writer), 'ERR_MLSTLS_ENCODE', 80);
      expect(writer.length).toBe(0);
    }
  });

  it('refuses any integer just past the largest value of its width', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3, 4),
        fc.integer({ min: 0, max: 1000 }),
        (width, extra) => {
          const value = 2 ** (8 * width) + extra;
          const writer = new Writer();
          const call = [
            () => writer.u8(value),
            () => writer.u16(value),
            () => writer.u24(value),
            () => writer.u32(value),
          ][width - 1]!;
          expectError(call, 'ERR_MLSTLS_ENCODE', 80);
        },
      ),
    );
  });

  it('refuses opaque vectors too long for their 1, 2 or 3 byte length prefix', () => {
    expectError(() => new Writer().opaque(1, new Uint8Array(256)), 'ERR_MLSTLS_ENCODE', 80);
    expectError(() => new Writer().opaque(2, new Uint8Array(0x10000)), 'ERR_MLSTLS_ENCODE', 80);
    expectError(() => new Writer().opaque(3, new Uint8Array(0x1000000)), 'ERR_MLSTLS_ENCODE', 80);
    expect(new Writer().opaque(1, new Uint8Array(255)).length).toBe(256);
    expect(new Writer().opaque(2, new Uint8Array(0xffff)).length).toBe(0x10001);
  });

  it('refuses opaque vectors outside their <min..max> bounds', () => {
    expectError(() => new Writer().opaque(4, new Uint8Array(10), 0, 9), 'ERR_MLSTLS_ENCODE', 80);
    expectError(() => new Writer().opaque(2, new Uint8Array(1), 2), 'ERR_MLSTLS_ENCODE', 80);
    expectError(
      () =>
        new Writer().opaque(1, new Uint8Array(1), 0, 1000).opaque(1, new Uint8Array(300), 0, 1000),
      'ERR_MLSTLS_ENCODE',
      80,
    );
  });

  it('refuses a vector() body too long for its length prefix', () => {
    expectError(
      () => new Writer().vector(1, (w) => w.bytes(new Uint8Array(256))),
      'ERR_MLSTLS_ENCODE',
      80,
    );
    expectError(
      () => new Writer().vector(2, (w) => w.bytes(new Uint8Array(0x10000))),
      'ERR_MLSTLS_ENCODE',
      80,
    );
    expect([...new Writer().vector(1, (w) => w.bytes(new Uint8Array(255))).finish()].length).toBe(
      256,
    );
  });
});
