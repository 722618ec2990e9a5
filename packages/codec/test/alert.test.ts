import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AlertDescription,
  alertFor,
  alertName,
  decodeAlert,
  encodeAlert,
  isClosureAlert,
} from '../src/index.js';
import { expectError, expectWellFormedError } from './helpers.js';

describe('encodeAlert and decodeAlert', () => {
  it('round-trip every level and every description byte as exactly [level, description]', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1 as const, 2 as const),
        fc.integer({ min: 0, max: 255 }),
        (level, description) => {
          const bytes = encodeAlert({ level, description });
          expect([...bytes]).toEqual([level, description]);
          expect(decodeAlert(bytes)).toEqual({ level, description });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('encodes a fatal decode_error as 02 32', () => {
    expect([...encodeAlert({ level: 2, description: 50 })]).toEqual([0x02, 0x32]);
    expect(decodeAlert(Uint8Array.of(1, 0))).toEqual({ level: 1, description: 0 });
  });

  it('keeps an unknown description (254): RFC 8446 6 makes it an error alert, not a decode failure', () => {
    expect(decodeAlert(Uint8Array.of(2, 254))).toEqual({ level: 2, description: 254 });
    expect(decodeAlert(Uint8Array.of(1, 254))).toEqual({ level: 1, description: 254 });
    expect(isClosureAlert(254)).toBe(false);
    expect(alertName(254)).toBe('unknown(254)');
  });
});

describe('decodeAlert on hostile input', () => {
  it('throws nothing but a well-formed MlsTlsError for any byte array', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), (bytes) => {
        try {
          const alert = decodeAlert(bytes);
          expect([...encodeAlert(alert)]).toEqual([...bytes]);
        } catch (error) {
          expectWellFormedError(error);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects an alert of other than 2 bytes with decode_error', () => {
    for (const bytes of [[], [2], [2, 50, 0], [1, 0, 1, 0]]) {
      expectError(() => decodeAlert(Uint8Array.from(bytes)), 'ERR_MLSTLS_DECODE', 50);
    }
  });

  it('rejects an alert level other than warning (1) and fatal (2) with illegal_parameter', () => {
    expectError(() => decodeAlert(Uint8Array.of(3, 0)), 'ERR_MLSTLS_ILLEGAL_PARAMETER', 47);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        (level, description) => {
          fc.pre(level !== 1 && level !== 2);
          expectError(
            () => decodeAlert(Uint8Array.of(level, description)),
            'ERR_MLSTLS_ILLEGAL_PARAMETER',
            47,
          );
        },
      ),
    );
  });
});

describe('encodeAlert refuses what it cannot encode with ERR_MLSTLS_ENCODE', () => {
  it('refuses a level other than 1 and 2', () => {
    for (const level of [0, 3, 255]) {
      expectError(
        () => encodeAlert({ level: level as 1, description: 0 }),
        'ERR_MLSTLS_ENCODE',
        80,
      );
    }
  });

  it('refuses a description outside 0..255 or not an integer', () => {
    for (const description of [256, -1, 1.5, Number.NaN]) {
      expectError(() => encodeAlert({ level: 2, description }), 'ERR_MLSTLS_ENCODE', 80);
    }
  });
});

describe('closure and error alerts (RFC 8446 6.1, 6.2)', () => {
  it('treats only close_notify (0) and user_canceled (90) as closure alerts', () => {
    const closure = Array.from({ length: 256 }, (_, i) => i).filter(isClosureAlert);
    expect(closure).toEqual([0, 90]);
  });

  it('sends closure alerts as warnings and every other alert as fatal', () => {
    expect(alertFor(0)).toEqual({ level: 1, description: 0 });
    expect(alertFor(90)).toEqual({ level: 1, description: 90 });
    for (const description of [10, 20, 22, 47, 50, 80, 120] as AlertDescription[]) {
      expect(alertFor(description)).toEqual({ level: 2, description });
    }
  });
});
