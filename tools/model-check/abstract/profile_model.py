#!/usr/bin/env python3
# A copy of the abstract model the real checker (../src) is compared with, unchanged but for this
# comment and its docstring's citation: the sections it models are docs/protocol.md's 5 and 6.
# Run: python3 profile_model.py [--rollback] [--r1]
"""Exhaustive model of docs/protocol.md sections 5 and 6 (abstract MLS: an epoch is the tuple of commits
applied). Explores every interleaving of updates, key updates, deliveries and transport breaks
(followed by resumption) within small bounds, and checks: every record is opened with the key it
was sealed with; no fatal error without an attacker; quiescent states are synced; and (with
--seed-resumption off) no sending key is used again in a later connection.

Revision 2: the first epoch of a resumed connection keys from its master secret AND the
responder's fresh random (a key's base is (epoch, random)). --rollback adds an attacker action:
the responder's store is restored to its state before some earlier resumption and that
resumption's recorded flight is replayed on a new connection; the responder then answers under
the resumed epoch's keys. --r1 models revision 1 (no responder random): with --rollback it shows
the responder re-using a key of the original connection."""
import sys
from collections import deque

SEED = '--seed-resumption' in sys.argv   # model the seed's original resumption instead of the flight
R1 = '--r1' in sys.argv or SEED          # revision 1: resumed keys take no responder random
ROLLBACK = '--rollback' in sys.argv      # the attacker restores the responder's store and replays a flight
MAX_UPD, MAX_KU, MAX_BREAKS = 2, 1, 2

def key(state, d, gen): return (state, d, gen)

def base(w, state):
    """What an epoch's keys derive from in the current connection: the epoch, and the responder's
    random where this connection resumed into it (revision 2)."""
    return (state, dict(w['rnd']).get(state))

def initial():
    s0 = ('G',)
    b = (s0, None)
    return dict(I=dict(st=1, state=s0, pend=None, send=key(b, 'c', 0), recv=key(b, 's', 0)),
                R=dict(st=1, state=s0, pend=None, send=key(b, 's', 0), recv=key(b, 'c', 0)),
                c2s=(), s2c=(), upd=(0, 0), ku=(0, 0), brk=0, conn=0, used=frozenset(), nid=0,
                resuming=False, rconn=True, rnd=(), snaps=(), rolled=False)

def freeze(x):
    if isinstance(x, dict): return tuple(sorted((k, freeze(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)): return tuple(freeze(v) for v in x)
    return x

def clone(w):
    return dict(I=dict(w['I']), R=dict(w['R']), **{k: v for k, v in w.items() if k not in ('I', 'R')})

class Bug(Exception): pass

def send(w, who, msg):
    me = w[who]
    k = me['send']
    w['used'] = w['used'] | {(k, w['conn'])}
    ch = 'c2s' if who == 'I' else 's2c'
    w[ch] = w[ch] + ((msg, k),)

def new_commit(w, parent, author):
    w['nid'] += 1
    return (author + str(w['nid']), parent)

def apply(state, commit):
    if commit[1] != state: raise Bug(f'commit {commit[0]} built on another epoch')
    return state + (commit[0],)

def epoch(state): return len(state)

def receive(w, who, msg, k):
    me = w[who]
    if k != me['recv']: raise Bug(f'{who} opens a record sealed with {k} using {me["recv"]}')
    kind = msg[0]
    d_me, d_peer = ('c', 's') if who == 'I' else ('s', 'c')
    if kind == 'KU':
        st, d, g = me['recv']; me['recv'] = (st, d, g + 1)
        if msg[1]:
            send(w, who, ('KU', 0)); st, d, g = me['send']; me['send'] = (st, d, g + 1)
        return
    if who == 'I':
        if me['st'] == 1 and kind == 'CU':
            me['state'] = apply(me['state'], msg[1])
            send(w, 'I', ('EKU', epoch(me['state'])))
            me['send'] = key(base(w, me['state']), 'c', 0); me['st'] = 3
        elif me['st'] == 2 and kind == 'EKU':
            if msg[1] != epoch(me['state']): raise Bug('I,2: EKU for another epoch')
            me['recv'] = key(base(w, me['state']), 's', 0); me['pend'] = None; me['st'] = 1; w['resuming'] = False
        elif me['st'] == 2 and kind == 'CU':
            pass
        elif me['st'] == 3 and kind == 'EKU':
            if msg[1] != epoch(me['state']): raise Bug('I,3: EKU for another epoch')
            me['recv'] = key(base(w, me['state']), 's', 0); me['st'] = 1
        else: raise Bug(f'I,{me["st"]}: unexpected {kind}')
    else:
        if kind == 'CU' and me['st'] in (1, 2):
            me['pend'] = None
            me['state'] = apply(me['state'], msg[1])
            send(w, 'R', ('EKU', epoch(me['state'])))
            me['send'] = key(base(w, me['state']), 's', 0); me['recv'] = key(base(w, me['state']), 'c', 0); me['st'] = 1
        elif kind == 'EKU' and me['st'] == 2:
            if msg[1] != epoch(me['state']) + 1: raise Bug('R,2: EKU for another epoch')
            me['state'] = apply(me['state'], me['pend']); me['pend'] = None
            send(w, 'R', ('EKU', epoch(me['state'])))
            me['send'] = key(base(w, me['state']), 's', 0); me['recv'] = key(base(w, me['state']), 'c', 0); me['st'] = 1
        else: raise Bug(f'R,{me["st"]}: unexpected {kind}')

def resume(w, lost=False):
    """Transport breaks; in-flight records are lost; the initiator resumes from stored state.
    With lost=True the new flight is lost too (the responder never sees it)."""
    I, R = w['I'], w['R']
    w['c2s'] = (); w['s2c'] = (); w['conn'] += 1; w['brk'] += 1
    flight = []
    if SEED:
        if I['st'] == 2: c = I['pend'][-1]
        else:
            c = new_commit(w, I['state'], 'I'); I['state'] = apply(I['state'], c)
        flight = [c]
    else:
        if I['st'] == 2: flight.extend(I['pend'])
        c = new_commit(w, I['state'], 'I'); I['state'] = apply(I['state'], c); flight.append(c)
    I['pend'] = tuple(flight); I['st'] = 2
    I['send'] = key(base(w, I['state']), 'c', 0)
    w['resuming'] = True; w['rconn'] = not lost
    if lost: return
    # responder
    if ROLLBACK: w['snaps'] = (((R['state'], R['pend']), tuple(flight)),)  # the store as it was before this resumption
    m = epoch(R['state']); applied_any = False; ok = True
    for i, c in enumerate(flight):
        t = epoch(c[1]) + 1; last = i == len(flight) - 1
        if SEED and t == m:  # seed: discard, answer with the current epoch
            R['pend'] = None; continue
        if not last and t <= m: continue
        if t == m + 1 and c[1] == R['state']:
            R['pend'] = None; R['state'] = apply(R['state'], c); m = t; applied_any = True
        elif t == m + 2 and R['pend'] is not None and not applied_any:
            R['state'] = apply(apply(R['state'], R['pend']), c); R['pend'] = None; m = t; applied_any = True
        else:
            ok = False; break
        if last and not applied_any and not SEED: ok = False
    if not ok: raise Bug(f'resumption rejected: flight {[(x[0], epoch(x[1])) for x in flight]} at responder epoch {m}')
    R['st'] = 1
    if not R1:  # resumption_accept(responder_random): the resumed epoch keys from it
        w['nid'] += 1; w['rnd'] = tuple(p for p in w['rnd'] if p[0] != R['state']) + ((R['state'], 'rand' + str(w['nid'])),)
    R['send'] = key(base(w, R['state']), 's', 0); R['recv'] = key(base(w, R['state']), 'c', 0)
    I['recv'] = key(base(w, R['state']), 's', 0); I['send'] = key(base(w, I['state']), 'c', 0)
    send(w, 'R', ('EKU', epoch(R['state'])))

def rollback_replay(w, snap):
    """The responder's store goes back to what it held before an earlier resumption, and an
    attacker replays that resumption's recorded flight on a new connection. The responder applies
    it as in resume() and answers under the resumed epoch's keys; nothing else happens after."""
    (state, pend), flight = snap
    R = w['R']; R['state'], R['pend'] = state, pend
    w['c2s'] = (); w['s2c'] = (); w['conn'] += 1; w['rolled'] = True
    m = epoch(state)
    for i, c in enumerate(flight):
        t = epoch(c[1]) + 1
        if i < len(flight) - 1 and t <= m: continue
        if t == m + 1 and c[1] == R['state']: R['state'] = apply(R['state'], c); R['pend'] = None; m = t
        elif t == m + 2 and R['pend'] is not None: R['state'] = apply(apply(R['state'], R['pend']), c); R['pend'] = None; m = t
        else: return  # refused: nothing is sent
    if not R1:
        w['nid'] += 1; w['rnd'] = tuple(p for p in w['rnd'] if p[0] != R['state']) + ((R['state'], 'rand' + str(w['nid'])),)
    R['send'] = key(base(w, R['state']), 's', 0)
    send(w, 'R', ('EKU', epoch(R['state'])))

def successors(w):
    I, R = w['I'], w['R']
    out = []
    if w['rolled']: return out
    if ROLLBACK:
        for snap in w['snaps']:
            out.append(('store rolled back, flight replayed', lambda x, snap=snap: rollback_replay(x, snap)))
    ui, ur = w['upd']; ki, kr = w['ku']
    if I['st'] == 1 and ui < MAX_UPD:
        def f(x):
            me = x['I']; c = new_commit(x, me['state'], 'I')
            me['state'] = apply(me['state'], c); me['pend'] = (c,)
            send(x, 'I', ('CU', c)); me['send'] = key(base(x, me['state']), 'c', 0); me['st'] = 2
            x['upd'] = (x['upd'][0] + 1, x['upd'][1])
        out.append(('I.update', f))
    if R['st'] == 1 and ur < MAX_UPD and w['rconn']:
        def f(x):
            me = x['R']; c = new_commit(x, me['state'], 'R'); me['pend'] = c
            send(x, 'R', ('CU', c)); me['st'] = 2
            x['upd'] = (x['upd'][0], x['upd'][1] + 1)
        out.append(('R.update', f))
    for who, n in (('I', ki), ('R', kr)):
        if n < MAX_KU and not (w['resuming'] and who == 'I') and not (who == 'R' and not w['rconn']):
            def f(x, who=who):
                me = x[who]; send(x, who, ('KU', 1)); st, d, g = me['send']; me['send'] = (st, d, g + 1)
                x['ku'] = (x['ku'][0] + 1, x['ku'][1]) if who == 'I' else (x['ku'][0], x['ku'][1] + 1)
            out.append((f'{who}.keyUpdate', f))
    if w['c2s']:
        def f(x):
            (msg, k), x['c2s'] = x['c2s'][0], x['c2s'][1:]; receive(x, 'R', msg, k)
        out.append(('deliver c2s', f))
    if w['s2c']:
        def f(x):
            (msg, k), x['s2c'] = x['s2c'][0], x['s2c'][1:]; receive(x, 'I', msg, k)
        out.append(('deliver s2c', f))
    if w['brk'] < MAX_BREAKS:
        out.append(('break+resume', resume))
        out.append(('break+resume, flight lost', lambda x: resume(x, lost=True)))
    return out

def check_reuse(w):
    seen = {}
    for k, conn in w['used']:
        seen.setdefault(k, set()).add(conn)
    for k, conns in seen.items():
        if len(conns) > 1: raise Bug(f'key {k} used in connections {sorted(conns)}: sequence numbers restart, nonces repeat')

def main():
    start = initial(); q = deque([(start, [])]); seen = {freeze(start)}; states = 0
    while q:
        w, path = q.popleft(); states += 1
        succ = successors(w)
        quiet = not w['c2s'] and not w['s2c']
        if quiet and (w['I']['st'] != 1 or w['R']['st'] != 1) and not any(n.startswith('deliver') for n, _ in succ):
            # nothing in flight but someone waits: only fine if more actions can still happen
            pass
        if w['rolled']: continue
        if quiet and w['I']['st'] == 1 and w['R']['st'] == 1:
            if w['I']['state'] != w['R']['state'] or w['I']['send'][0] != w['R']['recv'][0] or w['R']['send'][0] != w['I']['recv'][0]:
                print('BUG: quiescent but out of sync after', path); return 1
        if quiet and (w['I']['st'] != 1 or w['R']['st'] != 1) and all(n.startswith('break') for n, _ in succ) and w['brk'] >= MAX_BREAKS and w['rconn']:
            print('BUG: stuck waiting after', path, w['I']['st'], w['R']['st']); return 1
        for name, f in succ:
            x = clone(w)
            try:
                f(x); check_reuse(x)
            except Bug as e:
                print('BUG:', e, '\n  after', path + [name]); return 1
            fx = freeze(x)
            if fx not in seen:
                seen.add(fx); q.append((x, path + [name]))
    print(f'{states} states explored, no violation ({"seed" if SEED else "profile r1" if R1 else "profile r2"} resumption{", store rollback" if ROLLBACK else ""})')
    return 0

sys.exit(main())
