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
 *     starts it from an empty state).
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

#define CLIENTS 2
#define CALLS 2
#define SWAPS 2
/* Version ids: 1 is the first; each start takes the next. */
#define VERSIONS 8
#define ESCROW 0

byte owner = 1;             /* who holds the server endpoints: a version, or ESCROW */
bool closed = false;        /* a client's channel saw PEER_CLOSED */
byte pending[CLIENTS];      /* a queued request (its sequence number), 0: none */
byte in_flight[CLIENTS];    /* read, not yet answered (kernel-owned) */
byte reader[CLIENTS];       /* the version that read it */
byte reply[CLIENTS];        /* a reply not yet taken by its client */
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
    :: k < CLIENTS ->
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

/* Hand the endpoints and the state to the manager's escrow. */
#define ESCROW_NOW \
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
            :: k < CLIENTS -> assert(reader[k] != me); k++
            :: else -> break
            od;
            ESCROW_NOW
        };
        goto done
    TAKE(0)
    TAKE(1)
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
            stop[current] = true;
            (escrowed[current]);
            owner = fresh;                /* with the state in escrow */
            if
            :: atomic { dead[fresh] ->    /* crashed within the grace period: roll back */
                    state_lost = state_lost || answers_by[fresh] > 0
                };
                (owner == ESCROW);
                old = next;
                next++;
                run version(old, false);  /* the old version, again */
                (ready[old]);
                owner = old;
                current = old
            :: atomic { !dead[fresh] -> graced[fresh] = true };
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
        do
        :: k < CLIENTS -> run client(k); k++
        :: else -> break
        od
    }
}
