// The events the simulator can apply, and how an event sequence is written: one line that
// `--replay` reads back, so that every reported violation can be reproduced.

import type { Side } from './side.js';
import type { CrashPoint } from './store.js';

export type Event =
  /** The side's application writes a few bytes (before the handshake they wait for it). */
  | { readonly kind: 'write'; readonly side: Side }
  /** `update()`: a post-compromise-security update (section 5). */
  | { readonly kind: 'update'; readonly side: Side }
  /** `keyUpdate()`, asking the peer for one too with `requestPeer`. */
  | { readonly kind: 'keyUpdate'; readonly side: Side; readonly requestPeer: boolean }
  /** The next record `from` sent reaches its peer. */
  | { readonly kind: 'deliver'; readonly from: Side }
  /**
   * The transport breaks: every record in flight is lost, both ends see it end, then the
   * initiator opens a new connection and resumes from its store (section 6).
   */
  | { readonly kind: 'break' }
  /**
   * The responder's store is restored to what it held before connection `connection` (a
   * resumption), and that connection's recorded flight, with what the initiator sent after it,
   * is replayed to a new responder on that store. The run ends there.
   */
  | { readonly kind: 'rollback'; readonly connection: number };

/** A crash of `side` at its `write`-th compare-and-set of the event, before or after it lands. */
export interface Crash {
  readonly side: Side;
  readonly write: number;
  readonly point: CrashPoint;
}

/** One event, possibly with a crash of one side while it runs (then a restart from the stores). */
export interface Step {
  readonly event: Event;
  readonly crash?: Crash;
}

const SHORT: Record<Side, string> = { initiator: 'I', responder: 'R' };
const LONG: Record<string, Side> = { I: 'initiator', R: 'responder' };

function formatEvent(event: Event): string {
  switch (event.kind) {
    case 'write':
    case 'update':
      return `${SHORT[event.side]}.${event.kind}`;
    case 'keyUpdate':
      return `${SHORT[event.side]}.keyUpdate${event.requestPeer ? '(request)' : ''}`;
    case 'deliver':
      return event.from === 'initiator' ? 'deliver I->R' : 'deliver R->I';
    case 'break':
      return 'break';
    case 'rollback':
      return `rollback(${event.connection})`;
  }
}

function formatStep(step: Step): string {
  const event = formatEvent(step.event);
  if (step.crash === undefined) return event;
  const { side, write, point } = step.crash;
  return `${event} [crash ${SHORT[side]} ${point} write ${write}]`;
}

/** A sequence as one line: steps separated by `; `. */
export function formatSequence(steps: readonly Step[]): string {
  return steps.map(formatStep).join('; ');
}

export function parseSequence(text: string): Step[] {
  return text
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map(parseStep);
}

function parseStep(text: string): Step {
  const match = /^(.*?)(?:\s*\[crash ([IR]) (before|after) write (\d+)\])?$/.exec(text);
  if (match === null) throw new Error(`not a step: ${text}`);
  const event = parseEvent(match[1]!.trim());
  if (match[2] === undefined) return { event };
  return {
    event,
    crash: {
      side: LONG[match[2]]!,
      point: match[3] as CrashPoint,
      write: Number(match[4]),
    },
  };
}

function parseEvent(text: string): Event {
  if (text === 'break') return { kind: 'break' };
  if (text === 'deliver I->R') return { kind: 'deliver', from: 'initiator' };
  if (text === 'deliver R->I') return { kind: 'deliver', from: 'responder' };
  const rollback = /^rollback\((\d+)\)$/.exec(text);
  if (rollback !== null) return { kind: 'rollback', connection: Number(rollback[1]) };
  const command = /^([IR])\.(write|update|keyUpdate)(\(request\))?$/.exec(text);
  if (command === null) throw new Error(`not an event: ${text}`);
  const side = LONG[command[1]!]!;
  switch (command[2]) {
    case 'write':
      return { kind: 'write', side };
    case 'update':
      return { kind: 'update', side };
    default:
      return { kind: 'keyUpdate', side, requestPeer: command[3] !== undefined };
  }
}
