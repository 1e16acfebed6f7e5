/*
 * The hot-swap protocol (docs/hot-swap.md), as SPIN checks it.
 *
 * Clients call a server through the kernel's channel queues; the
 * component manager swaps the server's versions, each of which may crash
 * at any step (during start-up, right after taking the endpoints, between
 * reading a request and answering it, after answering it) while its grace
 * period runs. build-image/tests/hot_swap_model.rs runs `spin -a`, compiles
 * the verifier and checks that it finds no error: no assertion fails (no
 * lost, duplicated or doubly answered request, no client sees its channel
 * close, the state is continuous) and no process is stuck (no deadlock:
 * every client gets every reply). It also checks that each of the kernel
 * shortcuts below (-D...) makes the verifier find an error, so the model
 * is not vacuous.
 *
 * What the kernel must provide, and the shortcuts that break it:
 *   - a dying process's server endpoints, bound to the manager's escrow,
 *     move there instead of being closed (-DCLOSE_ON_DEATH closes them);
 *   - a request that was read but not answered by a dying reader goes
 *     back to the front of its queue (-DLOSE_IN_FLIGHT drops it);
 * and what the SDK's serving helper must do:
 *   - escrow only at a message boundary: every request read is answered
 *     first (-DSTOP_MID_REQUEST escrows with a request still unanswered,
 *     which the old version then never answers);
 *   - hand the escrowed state to the next version (-DSTATE_NOT_HANDED
 *     starts it from an empty state);
 *   - take a new connection bound to the escrow in the read itself
 *     (`CHANNEL_BIND_RECEIVED`; -DUNBOUND_ACCEPT reads it plainly and
 *     binds it a step later, and a version that dies in between closes
 *     it);
 *   - accept the `Open`s still queued in the outgoing directory before
 *     escrowing, and hand them over as connections (-DNO_DRAIN leaves
 *     them queued: the next version reads them, and if it is rolled back
 *     the manager cannot recognise them, as it records only what it
 *     forwards from its `Escrow` request on, and closes them).
 *
 * One more client connects while the system runs (`opener`): its `Open`
 * goes through the manager into the outgoing directory at any moment,
 * before, during or after a swap, and is then served like the others.
 * On a rollback the manager gives the old version back the connections
 * it handed over and those it forwarded since its `Escrow` request
 * (recognised by koid); anything else a dead version had bound is closed.
 *
 * Clients are synchronous (one request outstanding each), so a kernel
 * queue holds at most one request per client and "the front of the
 * queue" is that one slot.
 *
 * A version that crashes after answering requests is rolled back with the
 * state of the last handover: what those answers changed in the state is
 * lost (the answers themselves were delivered, once). The model records
 * that (`state_lost`) and checks state continuity only while nothing was
 * lost: the guarantee docs/hot-swap.md gives.
 */

/* Clients connected from the start (-DCLIENTS=2 -DNO_OPENER: the model
 * before the opener, which the test checks too). */
#ifndef CLIENTS
#define CLIENTS 1
#endif
#define CALLS 2
/* The connecting client's index, after the others, and its calls. */
#define OPENER CLIENTS
#define ALL (CLIENTS + 1)
#define OPENER_CALLS 1
#define SWAPS 2
/* Version ids: 1 is the first; each start takes the next. */
#define VERSIONS 8
#define ESCROW 0

byte owner = 1;             /* who holds the server endpoints: a version, or ESCROW */
bool closed = false;        /* a client's channel saw PEER_CLOSED */
byte pending[ALL];          /* a queued request (its sequence number), 0: none */
byte in_flight[ALL];        /* read, not yet answered (kernel-owned) */
byte reader[ALL];           /* the version that read it */
byte reply[ALL];            /* a reply not yet taken by its client */
/* The opener's connection: 0 not opened, QUEUED (its `Open` waits in the
 * outgoing directory, which moves with `owner`), ACCEPTED (held by
 * `conn_owner`: a version, ESCROW, or CLOSED_END). */
#define QUEUED 1
#define ACCEPTED 2
#define CLOSED_END 255
byte conn = 0;
byte conn_owner = 0;
bool conn_bound = false;    /* bound to its holder's escrow */
bool conn_closed = false;   /* the opener saw PEER_CLOSED */
bool conn_handed = false;   /* in the handover of the swap under way */
bool conn_recorded = false; /* forwarded since the swap's `Escrow` request */
bool recording = false;     /* the manager records what it forwards */
byte state[VERSIONS];       /* each version's state: calls answered */
byte escrow_state = 0;      /* the state in escrow */
byte answered = 0;          /* calls answered, all clients */
bool state_lost = false;    /* a rolled-back version had changed the state */
bool stop[VERSIONS];        /* the manager asked this version to stop */
bool ready[VERSIONS];       /* started up, waiting for the endpoints */
bool escrowed[VERSIONS];    /* stopped cleanly, endpoints in escrow */
bool dead[VERSIONS];        /* crashed */
bool graced[VERSIONS];      /* its grace period is over: it will not crash */
byte answers_by[VERSIONS];  /* calls each version answered */

/* The kernel reaps version `me` (`k` is the caller's scratch variable). */
inline die(me) {
    k = 0;
    do
    :: k < ALL ->
        if
        :: reader[k] == me ->
#ifdef LOSE_IN_FLIGHT
            skip;
#else
            pending[k] = in_flight[k];
#endif
            in_flight[k] = 0;
            reader[k] = 0
        :: else -> skip
        fi;
        k++
    :: else -> break
    od;
    if
    :: owner == me ->
#ifdef CLOSE_ON_DEATH
        closed = true;
        owner = 255
#else
        owner = ESCROW
#endif
    :: else -> skip
    fi;
    if
    :: conn == ACCEPTED && conn_owner == me ->
#ifdef CLOSE_ON_DEATH
        conn_owner = CLOSED_END;
        conn_closed = true
#else
        if
        :: conn_bound -> conn_owner = ESCROW
        :: else -> conn_owner = CLOSED_END; conn_closed = true
        fi
#endif
    :: else -> skip
    fi;
    dead[me] = true
}

/* Version `me` may crash here if it is faulty and within its grace. */
#define CRASH_POINT \
    if \
    :: atomic { faulty && !graced[me] -> die(me) }; goto done \
    :: true -> skip \
    fi

/* Read the request of client `n`, if one is queued. */
#define TAKE(n) \
    :: atomic { owner == me && !stop[me] && pending[n] != 0 -> \
        c = n; in_flight[n] = pending[n]; pending[n] = 0; reader[n] = me \
    }; goto read

/* Read the opener's request, once its connection is accepted here. */
#define TAKE_OPENER \
    :: atomic { conn == ACCEPTED && conn_owner == me && !stop[me] && pending[OPENER] != 0 -> \
        c = OPENER; in_flight[OPENER] = pending[OPENER]; pending[OPENER] = 0; \
        reader[OPENER] = me \
    }; goto read

#ifdef NO_DRAIN
#define DRAIN skip
#else
/* Accept the `Open` still queued in the outgoing directory. */
#define DRAIN \
    if \
    :: conn == QUEUED -> conn = ACCEPTED; conn_owner = me; conn_bound = true \
    :: else -> skip \
    fi
#endif

/* Hand the endpoints (the outgoing directory and every connection) and
 * the state to the manager's escrow. */
#define ESCROW_NOW \
    DRAIN; \
    if \
    :: conn == ACCEPTED && conn_owner == me -> conn_owner = ESCROW; conn_handed = true \
    :: else -> skip \
    fi; \
    escrow_state = state[me]; \
    owner = ESCROW; \
    escrowed[me] = true

proctype version(byte me; bool faulty) {
    byte c;
    byte k;
    CRASH_POINT;                          /* start-up */
    ready[me] = true;
    (owner == me);                        /* the manager hands the endpoints over */
    CRASH_POINT;                          /* right after taking them */
#ifdef STATE_NOT_HANDED
    state[me] = 0;
#else
    state[me] = escrow_state;
#endif
end_serving:
    do
    :: atomic { stop[me] && owner == me ->
            /* a message boundary: nothing this version read is unanswered */
            k = 0;
            do
            :: k < ALL -> assert(reader[k] != me); k++
            :: else -> break
            od;
            ESCROW_NOW
        };
        goto done
    TAKE(0)
#if CLIENTS > 1
    TAKE(1)
#endif
    TAKE_OPENER
    /* Accept the opener's connection. */
#ifdef UNBOUND_ACCEPT
    :: atomic { owner == me && !stop[me] && conn == QUEUED ->
            conn = ACCEPTED; conn_owner = me; conn_bound = false
        };
        CRASH_POINT;                      /* read, not yet bound */
        conn_bound = true
#else
    :: atomic { owner == me && !stop[me] && conn == QUEUED ->
            conn = ACCEPTED; conn_owner = me; conn_bound = true
        }
#endif
    od;
read:
    CRASH_POINT;                          /* read, not answered */
#ifdef STOP_MID_REQUEST
    if
    :: atomic { stop[me] && owner == me -> ESCROW_NOW }; goto done
    :: else -> skip
    fi;
#endif
    atomic {
        assert(reply[c] == 0);            /* never two answers at once */
        assert(state_lost || state[me] == answered);
        state[me]++;
        answered++;
        answers_by[me]++;
        reply[c] = in_flight[c];
        in_flight[c] = 0;
        reader[c] = 0
    };
    CRASH_POINT;                          /* answered */
    goto end_serving;
done:
    skip
}

proctype client(byte me) {
    byte call = 1;
    do
    :: call <= CALLS ->
        pending[me] = call;
        (reply[me] != 0 || closed);
        assert(!closed);
        assert(reply[me] == call);        /* neither lost, nor another's, nor twice */
        reply[me] = 0;
        call++
    :: else -> break
    od
}

/* Connects (through the manager, which forwards the `Open` into the
 * outgoing directory and records it during a swap) and calls. */
proctype opener() {
    byte call = 1;
    atomic { conn = QUEUED; conn_recorded = recording };
    do
    :: call <= OPENER_CALLS ->
        pending[OPENER] = call;
        (reply[OPENER] != 0 || conn_closed);
        assert(!conn_closed);
        assert(reply[OPENER] == call);
        reply[OPENER] = 0;
        call++
    :: else -> break
    od
}

proctype manager() {
    byte current = 1;
    byte next = 2;
    byte swap = 0;
    byte fresh;
    byte old;
    bool faulty;
    do
    :: swap < SWAPS ->
        if
        :: faulty = true
        :: faulty = false
        fi;
        fresh = next;
        next++;
        run version(fresh, faulty);
        /* Nothing stops before the new version has started. */
        if
        :: ready[fresh] ->
            atomic {
                /* Record what is forwarded from the `Escrow` request on. */
                conn_handed = false;
                conn_recorded = false;
                recording = true;
                stop[current] = true
            };
            (escrowed[current]);
            atomic {
                owner = fresh;            /* with the state in escrow */
                if
                :: conn == ACCEPTED && conn_owner == ESCROW -> conn_owner = fresh
                :: else -> skip
                fi
            };
            if
            :: atomic { dead[fresh] ->    /* crashed within the grace period: roll back */
                    state_lost = state_lost || answers_by[fresh] > 0
                };
                (owner == ESCROW);
                old = next;
                next++;
                run version(old, false);  /* the old version, again */
                (ready[old]);
                atomic {
                    owner = old;
                    /* Only connections it knows go back; the rest close. */
                    if
                    :: conn == ACCEPTED && conn_owner == ESCROW ->
                        if
                        :: conn_handed || conn_recorded -> conn_owner = old
                        :: else -> conn_owner = CLOSED_END; conn_closed = true
                        fi
                    :: else -> skip
                    fi;
                    recording = false
                };
                current = old
            :: atomic { !dead[fresh] -> graced[fresh] = true; recording = false };
                current = fresh
            fi
        :: dead[fresh] -> skip            /* failed to start: the old one never stopped */
        fi;
        swap++
    :: else -> break
    od
}

init {
    byte k = 0;
    atomic {
        graced[1] = true;
        run version(1, false);
        run manager();
#ifndef NO_OPENER
        run opener();
#endif
        do
        :: k < CLIENTS -> run client(k); k++
        :: else -> break
        od
    }
}
