/*
** lanes.c: core.lanes, the one pass over every sample that each analysis
** starts with (sentry.chunks.analysis.samples.lanes), in C. On Lua 5.4 the
** same three passes in Lua took longer than decoding the samples.
**
**   core.lanes(thread_id, timestamp, n) -> lanes | nil
**
** thread_id and timestamp are the columns of n samples. lanes is what
** samples.lanes builds for samples that carry no weights of their own:
** lanes.order = the thread ids in order of first appearance; lanes[tid] =
** {idx = sample indices, ts = floor(timestamp * 1e9), w = ts[j+1] - ts[j]
** (0 for the last), last = {[#idx] = true}}, every number as Lua's own
** arithmetic makes it (integers on 5.3+, doubles on 5.1 and LuaJIT).
**
** nil means "not here, do it in Lua": a thread id that is nil or NaN, a
** timestamp that is not a number or whose nanoseconds are not a finite
** integer Lua can hold, a thread whose samples are out of time order.
** The Lua code then runs as before, sorting, coercing or raising as it
** always did, so results never depend on which of the two ran.
**
**   core.stack_sums(thread_id, timestamp, stack_id, n, nstacks)
**     -> order, sums | nil
**   core.stack_sums(rows, n, nstacks) -> order, sums | nil
**
** (the second form reads samples in rows, {thread_id =, timestamp =,
** stack_id =} each, without making their columns first)
** The same weights summed per thread and stack id, without the lanes:
** order as above; sums[k] for the thread order[k] = {sid = stack ids in
** the order the thread's counted samples first show them, w = their
** summed weights, count = their sample counts, time = the thread's time,
** samples = its counted samples, first and last = the nanoseconds of its
** first and last sample when it has a counted one}. A thread's last sample is not counted
** (Sentry's rule); its weight, 0, is in time. What aggregate's view and
** stack_sums give for the same samples, for the analyses that need no
** more than these sums. nil as for lanes, and also for a counted sample
** whose stack id is not an integer in [0, nstacks) and for a row that is
** not a table.
**
**   core.stack_runs(<the arguments of stack_sums>) -> order, runs | nil
**
** For speedscope's sampled profiles: runs[k] for the thread order[k] =
** {sid = , us = }, each entry a run of the thread's consecutive counted
** samples with one stack id, in time order, and the sum of their weights
** each rounded to whole microseconds first (half up, as export.lua's
** us()). nil as lsc_lanes_next declines (a sample's stack id out of
** range, its thread's last sample too), for a thread out of time order,
** and for a rounded weight past 2^53.
**
**   lsc_lanes_reader, lsc_lanes_next (lanes.h): the same samples read
** one by one, for core.engine's pass (engine.c), declined as stack_sums
** declines.
**
** Raises only for a wrong argument type (a programmer's mistake) and for
** memory; the scratch arrays are userdata, so an error leaks nothing.
*/
#include <limits.h>
#include <math.h>
#include <string.h>

#include "compat.h"
#include "lanes.h"

/* Stack slots of l_lanes (l_stack_sums has A_SIDS and A_NSTACKS after
   A_TSS and its own slots after those). */
enum { A_TIDS = 1, A_TSS, A_N, S_SLOT, S_ORDER, S_LANES, S_SCRATCH };

/* Nanoseconds that Lua's floor(t * 1e9) gives as a number it can hold
   exactly: on 5.3+ an integer (math.floor of a float in range), on 5.1 a
   double. 0 when t is not a number or the result is NaN, inf, or past
   2^63 (Lua 5.4 would keep those as floats: the Lua path decides). */
static int lanes_ns(lua_State *L, int i, double *out) {
  if (lua_type(L, i) != LUA_TNUMBER) return 0;
  double f = floor((double)lua_tonumber(L, i) * 1e9);
  if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) return 0;
  *out = f;
  return 1;
}

/* A count argument as an int, or -1 when it is not a whole number in
   [0, INT_MAX / 2] (what a sample count from data can be). */
static int lanes_count(lua_State *L, int i) {
  lua_Number n = lua_type(L, i) == LUA_TNUMBER ? lua_tonumber(L, i) : -1;
  if (!(n >= 0 && n <= (lua_Number)(INT_MAX / 2)) || n != floor(n)) return -1;
  return (int)n;
}

static void lanes_pushns(lua_State *L, double ns) {
#if SC_HAS_INTEGERS
  lua_pushinteger(L, (lua_Integer)ns);
#else
  lua_pushnumber(L, (lua_Number)ns);
#endif
}

/* Weights and their sums as Lua's own arithmetic makes them: integers
   (wrapping) on 5.3+, doubles on 5.1; lanes_weight is the difference of
   two nanosecond values. */
#if SC_HAS_INTEGERS
typedef unsigned long long lanes_sum;
#define lanes_pushsum(L, x) lua_pushinteger((L), (lua_Integer)(x))
#define lanes_weight(later, earlier) \
  ((lanes_sum)(lua_Integer)(later) - (lanes_sum)(lua_Integer)(earlier))
#else
typedef double lanes_sum;
#define lanes_pushsum(L, x) lua_pushnumber((L), (lua_Number)(x))
#define lanes_weight(later, earlier) ((later) - (earlier))
#endif

/* The number (1-based, in order of first appearance) of the thread whose
   id is on top of the stack (popped): a new thread is numbered in the
   table at `slot` (id -> number) and listed in the one at `order`. 0 for
   a thread id Lua cannot use as a key (nil, NaN). The cache (lanes.h)
   remembers the ids met last. */
static int lanes_key(lua_State *L, int slot, int order, int *threads, lanes_cache *c) {
  int type = lua_type(L, -1), at;
  const char *str = NULL;
  lua_Number num = 0;
  if (type == LUA_TSTRING) {
    str = lua_tolstring(L, -1, NULL);
    for (at = 0; at < c->n; at++)
      if (c->str[at] == str && c->type[at] == type) break;
  } else if (type == LUA_TNUMBER) {
    num = lua_tonumber(L, -1);
    if (num != num) at = -1; /* NaN */
    else
      for (at = 0; at < c->n; at++)
        if (c->num[at] == num && c->type[at] == type) break;
  } else {
    at = type == LUA_TNIL ? -1 : c->n;
  }
  if (at < 0) {
    lua_pop(L, 1);
    return 0;
  }
  if (at < c->n) {
    lua_pop(L, 1);
    return c->k[at];
  }
  lua_pushvalue(L, -1);
  lua_rawget(L, slot);
  int k = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (k == 0) {
    k = ++*threads;
    lua_pushvalue(L, -1);
    lua_pushinteger(L, k);
    lua_rawset(L, slot);
    lua_pushvalue(L, -1);
    lua_rawseti(L, order, k);
  }
  lua_pop(L, 1);
  if (type == LUA_TSTRING || type == LUA_TNUMBER) { /* remembered, round robin */
    at = c->next;
    c->next = (c->next + 1) % LANES_CACHE;
    if (c->n < LANES_CACHE) c->n++;
    c->type[at] = type;
    c->str[at] = str;
    c->num[at] = num;
    c->k[at] = k;
  }
  return k;
}

/* lanes_key for sample i's thread id, read from the column at `tids`. */
static int lanes_thread(lua_State *L, int tids, int i, int slot, int order,
                        int *threads, lanes_cache *c) {
  lua_rawgeti(L, tids, i);
  return lanes_key(L, slot, order, threads, c);
}

static int l_lanes(lua_State *L) {
  luaL_checktype(L, A_TIDS, LUA_TTABLE);
  luaL_checktype(L, A_TSS, LUA_TTABLE);
  int n = lanes_count(L, A_N);
  if (n < 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, A_N);
  lua_newtable(L); /* S_SLOT: thread id -> its number k (1-based) */
  lua_newtable(L); /* S_ORDER */
  lua_newtable(L); /* S_LANES */
  /* Scratch, per sample: its thread's number, its nanoseconds. */
  size_t bytes = (size_t)n * (sizeof(int) + sizeof(double)) + 1;
  double *ns = (double *)lua_newuserdata(L, bytes); /* S_SCRATCH */
  int *kof = (int *)(ns + n);
  int threads = 0;
  lanes_cache cache = {0};

  /* Pass 1: each sample's thread number and nanoseconds. */
  for (int i = 1; i <= n; i++) {
    int k = lanes_thread(L, A_TIDS, i, S_SLOT, S_ORDER, &threads, &cache);
    if (k == 0) {
      lua_pushnil(L);
      return 1;
    }
    kof[i - 1] = k;
    lua_rawgeti(L, A_TSS, i);
    int ok = lanes_ns(L, -1, &ns[i - 1]);
    lua_pop(L, 1);
    if (!ok) {
      lua_pushnil(L);
      return 1;
    }
  }

  /* Per thread: its count, then where its next sample goes, and the last
     nanoseconds seen (a thread out of order goes to the Lua path). */
  size_t tbytes = (size_t)(threads + 1) * (2 * sizeof(int) + sizeof(double));
  int *count = (int *)lua_newuserdata(L, tbytes); /* S_SCRATCH + 1 */
  int *next = count + (threads + 1);
  double *prev = (double *)(next + (threads + 1));
  for (int k = 0; k <= threads; k++) count[k] = 0;
  for (int i = 0; i < n; i++) {
    int k = kof[i];
    if (count[k] > 0 && ns[i] < prev[k]) {
      lua_pushnil(L);
      return 1;
    }
    prev[k] = ns[i];
    count[k]++;
  }

  /* Pass 2: every thread's arrays made at their size and held on the
     stack (3 slots a thread, from `base`), then one sweep fills them.
     A profile with more threads than the stack takes goes to Lua. */
  if (!lua_checkstack(L, 3 * threads + 8)) {
    lua_pushnil(L);
    return 1;
  }
  int base = lua_gettop(L) + 1;
  for (int k = 1; k <= threads; k++) {
    int c = count[k];
    lua_createtable(L, c, 0);
    lua_createtable(L, c, 0);
    lua_createtable(L, c, 0);
    next[k] = 0;
  }
  for (int k = 1; k <= threads; k++) {
    int at = base + 3 * (k - 1);
    lua_createtable(L, 0, 4); /* the lane */
    lua_pushvalue(L, at);
    lua_setfield(L, -2, "idx");
    lua_pushvalue(L, at + 1);
    lua_setfield(L, -2, "ts");
    lua_pushvalue(L, at + 2);
    lua_setfield(L, -2, "w");
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, count[k]);
    lua_setfield(L, -2, "last");
    lua_rawgeti(L, S_ORDER, k);
    lua_insert(L, -2);
    lua_rawset(L, S_LANES);
  }
  for (int i = 0; i < n; i++) {
    int k = kof[i];
    int at = base + 3 * (k - 1);
    int j = ++next[k];
    lua_pushinteger(L, i + 1);
    lua_rawseti(L, at, j);
    lanes_pushns(L, ns[i]);
    lua_rawseti(L, at + 1, j);
    /* w[j - 1], known now that the thread's next sample has come */
    if (j > 1) {
      lanes_pushsum(L, lanes_weight(ns[i], prev[k]));
      lua_rawseti(L, at + 2, j - 1);
    }
    prev[k] = ns[i];
  }
  for (int k = 1; k <= threads; k++) { /* each thread's last weighs 0 */
    lua_pushinteger(L, 0);
    lua_rawseti(L, base + 3 * (k - 1) + 2, count[k]);
  }
  lua_pushvalue(L, S_ORDER);
  lua_setfield(L, S_LANES, "order");
  lua_pushvalue(L, S_LANES);
  return 1;
}



/* One (thread, stack) pair that counted samples have shown; the pairs of
   one stack id are chained from head[sid] through next (1-based, 0
   ends). */
typedef struct lanes_entry {
  lanes_sum w;
  int sid, count, k, next;
} lanes_entry;

/* One thread's state during the pass. */
typedef struct lanes_thread_state {
  double first_ns;    /* its first sample's nanoseconds */
  double prev_ns;     /* its last sample's nanoseconds ... */
  long long prev_sid; /* ... and stack id (-1: not an integer in range) */
  lanes_sum time;
  int samples, entries;
} lanes_thread_state;

enum { B_TIDS = 1, B_TSS, B_SIDS, B_N, B_NSTACKS, B_SLOT, B_ORDER, B_HEAD,
       B_STATE, B_ENTRY, B_KEYS };

/* Pushes sample i's thread id, timestamp and stack id. In columns: from
   the column tables at at, at + 1, at + 2. In rows (the rows at `at`):
   from row i, by raw lookups of the three keys held from `keys` (a
   metatable never runs); a row that is not a table gives three nils,
   which the caller declines. */
static void lanes_sample(lua_State *L, int at, int rows, int keys, int i) {
  if (!rows) {
    lua_rawgeti(L, at, i);
    lua_rawgeti(L, at + 1, i);
    lua_rawgeti(L, at + 2, i);
    return;
  }
  lua_rawgeti(L, at, i);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
    return;
  }
  lua_pushvalue(L, keys);
  lua_rawget(L, -2);
  lua_pushvalue(L, keys + 1);
  lua_rawget(L, -3);
  lua_pushvalue(L, keys + 2);
  lua_rawget(L, -4);
  lua_remove(L, -4);
}

/* The stack id on top of the stack as an integer in [0, nstacks), or -1. */
static long long lanes_sid(lua_State *L, int nstacks) {
  if (lua_type(L, -1) != LUA_TNUMBER) return -1;
  lua_Number x = lua_tonumber(L, -1);
  return x >= 0 && x < (lua_Number)nstacks && x == floor(x) ? (long long)x : -1;
}

/* Pushes a row's three keys, interned once for lanes_sample. */
static void lanes_keys(lua_State *L) {
  lua_pushliteral(L, "thread_id");
  lua_pushliteral(L, "timestamp");
  lua_pushliteral(L, "stack_id");
}

void lsc_lanes_reader(lua_State *L, int at, int rows, int nstacks, lanes_reader *r) {
  luaL_checkstack(L, 12, "samples");
  lua_newtable(L); /* the thread ids in order of first appearance */
  r->order = lua_gettop(L);
  lua_newtable(L); /* thread id -> its number */
  r->slot = r->order + 1;
  r->keys = r->order + 2;
  lanes_keys(L);
  r->at = at;
  r->rows = rows;
  r->nstacks = nstacks;
  r->threads = 0;
  memset(&r->cache, 0, sizeof r->cache);
}

int lsc_lanes_next(lua_State *L, lanes_reader *r, int i, int *k, double *ns, int *sid) {
  lanes_sample(L, r->at, r->rows, r->keys, i);
  long long id = lanes_sid(L, r->nstacks);
  int ok = id >= 0 && lanes_ns(L, -2, ns);
  lua_pop(L, 2);
  *k = lanes_key(L, r->slot, r->order, &r->threads, &r->cache);
  *sid = (int)id;
  return ok && *k > 0;
}

/* A scratch array of `count` items of `size` bytes at stack slot `at`,
   keeping the first `keep` items of `old`: a new userdata replaces the
   old one there (the collector frees it). */
static void *lanes_grow(lua_State *L, int at, const void *old, size_t keep,
                        size_t count, size_t size) {
  void *p = lua_newuserdata(L, count * size + 1);
  if (keep > 0) memcpy(p, old, keep * size);
  lua_replace(L, at);
  return p;
}

static int l_stack_sums(lua_State *L) {
  int rows = lua_gettop(L) <= 3;
  luaL_checkstack(L, 24, "stack_sums"); /* the slots below and a sample's */
  luaL_checktype(L, B_TIDS, LUA_TTABLE);
  if (rows) { /* (rows, n, nstacks) -> (rows, nil, nil, n, nstacks) */
    lua_settop(L, 3);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_insert(L, 2);
    lua_insert(L, 2);
  } else {
    luaL_checktype(L, B_TSS, LUA_TTABLE);
    luaL_checktype(L, B_SIDS, LUA_TTABLE);
  }
  int n = lanes_count(L, B_N), nstacks = lanes_count(L, B_NSTACKS);
  if (n < 0 || nstacks < 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, B_NSTACKS);
  lua_newtable(L); /* B_SLOT */
  lua_newtable(L); /* B_ORDER */
  size_t heads = (size_t)nstacks;
  int *head = (int *)lua_newuserdata(L, heads * sizeof(int) + 1); /* B_HEAD */
  memset(head, 0, heads * sizeof(int));
  /* Threads and pairs are met as the samples come: their arrays grow by
     doubling, each a userdata replaced in its slot. */
  int threads = 0, state_cap = 8, entries = 0, entry_cap = 1024;
  lanes_thread_state *ts = (lanes_thread_state *)lua_newuserdata(L, state_cap * sizeof *ts); /* B_STATE */
  lanes_entry *entry = (lanes_entry *)lua_newuserdata(L, entry_cap * sizeof *entry); /* B_ENTRY */
  lanes_keys(L); /* B_KEYS */
  lanes_cache cache = {0};
  for (int i = 1; i <= n; i++) {
    int known = threads;
    lanes_sample(L, B_TIDS, rows, B_KEYS, i); /* thread id, timestamp, stack id */
    long long sid = lanes_sid(L, nstacks);
    double t;
    int ok = lanes_ns(L, -2, &t);
    lua_pop(L, 2);
    int k = lanes_key(L, B_SLOT, B_ORDER, &threads, &cache);
    if (k == 0) {
      lua_pushnil(L);
      return 1;
    }
    lanes_thread_state *st;
    if (!ok) {
      lua_pushnil(L);
      return 1;
    }
    if (k > known) { /* a new thread: its first sample */
      if (k > state_cap) {
        ts = (lanes_thread_state *)lanes_grow(L, B_STATE, ts, (size_t)known,
                                              (size_t)state_cap * 2, sizeof *ts);
        state_cap *= 2;
      }
      st = &ts[k - 1];
      st->first_ns = t;
      st->time = 0;
      st->samples = st->entries = 0;
    } else {
      st = &ts[k - 1];
      if (t < st->prev_ns || st->prev_sid < 0) { /* out of order; a stack
                                                    id the Lua path judges */
        lua_pushnil(L);
        return 1;
      }
      /* the thread's previous sample is counted now that its weight is
         known */
      int sp = (int)st->prev_sid, e = head[sp];
      while (e != 0 && entry[e - 1].k != k) e = entry[e - 1].next;
      if (e == 0) {
        if (entries == entry_cap) {
          entry = (lanes_entry *)lanes_grow(L, B_ENTRY, entry, (size_t)entries,
                                            (size_t)entry_cap * 2, sizeof *entry);
          entry_cap *= 2;
        }
        lanes_entry *x = &entry[entries];
        x->w = 0;
        x->count = 0;
        x->sid = sp;
        x->k = k;
        x->next = head[sp];
        head[sp] = e = ++entries;
        st->entries++;
      }
      lanes_sum w = lanes_weight(t, st->prev_ns);
      entry[e - 1].w += w;
      entry[e - 1].count++;
      st->time += w;
      st->samples++;
    }
    st->prev_ns = t;
    st->prev_sid = sid;
  }
  /* The sums, thread by thread: its arrays at their size (held on the
     stack, 3 slots a thread, from `base`), then every entry in the order
     it was made (per thread, the order its samples showed them). */
  const int per = 3; /* arrays a thread */
  if (!lua_checkstack(L, per * threads + 8)) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, threads, 0);
  int sums_at = lua_gettop(L), base = sums_at + 1;
  for (int k = 1; k <= threads; k++) {
    int c = ts[k - 1].entries;
    for (int a = 0; a < per; a++) lua_createtable(L, c, 0);
  }
  for (int k = 1; k <= threads; k++) {
    int at = base + per * (k - 1);
    lua_createtable(L, 0, 9);
    if (ts[k - 1].samples > 0) {
      lanes_pushns(L, ts[k - 1].first_ns);
      lua_setfield(L, -2, "first");
      lanes_pushns(L, ts[k - 1].prev_ns);
      lua_setfield(L, -2, "last");
    }
    lua_pushvalue(L, at);
    lua_setfield(L, -2, "sid");
    lua_pushvalue(L, at + 1);
    lua_setfield(L, -2, "w");
    lua_pushvalue(L, at + 2);
    lua_setfield(L, -2, "count");
    lanes_pushsum(L, ts[k - 1].time);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, ts[k - 1].samples);
    lua_setfield(L, -2, "samples");
    lua_rawseti(L, sums_at, k);
    ts[k - 1].entries = 0; /* from here: how many are written */
  }
  for (int e = 0; e < entries; e++) {
    int at = base + per * (entry[e].k - 1);
    int j = ++ts[entry[e].k - 1].entries;
    lua_pushinteger(L, entry[e].sid);
    lua_rawseti(L, at, j);
    lanes_pushsum(L, entry[e].w);
    lua_rawseti(L, at + 1, j);
    lua_pushinteger(L, entry[e].count);
    lua_rawseti(L, at + 2, j);
  }
  lua_pushvalue(L, B_ORDER);
  lua_pushvalue(L, sums_at);
  return 2;
}

/* One thread's state in stack_runs: its last sample, and its open run
   (consecutive counted samples of one stack id). */
typedef struct lanes_run_state {
  double prev_ns;
  int prev_sid, has_run, run_sid, runs;
  lanes_sum run_us;
} lanes_run_state;

/* A sample's weight in whole microseconds, half up, as export.lua's
   us(ns) = floor(ns / 1000 + 0.5) makes it; 0 (and *ok cleared) past
   2^53, where Lua 5.3+ would keep a float and the Lua path decides. */
static lanes_sum lanes_us(lanes_sum w, int *ok) {
#if SC_HAS_INTEGERS
  double x = floor((double)(lua_Integer)w / 1000.0 + 0.5);
#else
  double x = floor(w / 1000.0 + 0.5);
#endif
  if (!(x > -9007199254740992.0 && x < 9007199254740992.0)) {
    *ok = 0;
    return 0;
  }
#if SC_HAS_INTEGERS
  return (lanes_sum)(lua_Integer)x;
#else
  return x;
#endif
}

/* Closes thread k's open run: its stack id and microseconds appended to
   the thread's two arrays, at runs_at + 2k - 1 and runs_at + 2k. */
static void lanes_close_run(lua_State *L, int runs_at, int k, lanes_run_state *st) {
  int j = ++st->runs;
  lua_rawgeti(L, runs_at, 2 * k - 1);
  lua_pushinteger(L, st->run_sid);
  lua_rawseti(L, -2, j);
  lua_rawgeti(L, runs_at, 2 * k);
  lanes_pushsum(L, st->run_us);
  lua_rawseti(L, -2, j);
  lua_pop(L, 2);
}

/* core.stack_runs: see the header comment. */
static int l_stack_runs(lua_State *L) {
  int rows = lua_gettop(L) <= 3, at_n = rows ? 2 : 4;
  luaL_checkstack(L, 24, "stack_runs");
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!rows) {
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
  }
  int n = lanes_count(L, at_n), nstacks = lanes_count(L, at_n + 1);
  if (n < 0 || nstacks < 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, at_n + 1);
  lua_newtable(L); /* per thread k: its stack ids at 2k - 1, its us at 2k */
  int runs_at = lua_gettop(L);
  lanes_reader rd;
  lsc_lanes_reader(L, 1, rows, nstacks, &rd);
  int cap = 8, state_at = lua_gettop(L) + 1;
  lanes_run_state *st = (lanes_run_state *)lua_newuserdata(L, (size_t)(cap + 1) * sizeof *st);
  for (int i = 1; i <= n; i++) {
    int k, sid, ok = 1;
    double t;
    int known = rd.threads;
    if (!lsc_lanes_next(L, &rd, i, &k, &t, &sid)) {
      lua_pushnil(L);
      return 1;
    }
    if (k > known) { /* a new thread */
      if (k > cap) {
        st = (lanes_run_state *)lanes_grow(L, state_at, st, (size_t)cap + 1,
                                           (size_t)cap * 2 + 1, sizeof *st);
        cap *= 2;
      }
      memset(&st[k], 0, sizeof st[k]);
      lua_newtable(L);
      lua_rawseti(L, runs_at, 2 * k - 1);
      lua_newtable(L);
      lua_rawseti(L, runs_at, 2 * k);
    } else {
      lanes_run_state *p = &st[k];
      if (t < p->prev_ns) { /* out of order: the Lua path sorts */
        lua_pushnil(L);
        return 1;
      }
      /* the previous sample counts, its weight known now */
      lanes_sum us = lanes_us(lanes_weight(t, p->prev_ns), &ok);
      if (!ok) {
        lua_pushnil(L);
        return 1;
      }
      if (p->has_run && p->run_sid == p->prev_sid) {
        p->run_us += us;
      } else {
        if (p->has_run) lanes_close_run(L, runs_at, k, p);
        p->has_run = 1;
        p->run_sid = p->prev_sid;
        p->run_us = us;
      }
    }
    st[k].prev_ns = t;
    st[k].prev_sid = sid;
  }
  for (int k = 1; k <= rd.threads; k++)
    if (st[k].has_run) lanes_close_run(L, runs_at, k, &st[k]);
  lua_createtable(L, rd.threads, 0);
  for (int k = 1; k <= rd.threads; k++) {
    lua_createtable(L, 0, 2);
    lua_rawgeti(L, runs_at, 2 * k - 1);
    lua_setfield(L, -2, "sid");
    lua_rawgeti(L, runs_at, 2 * k);
    lua_setfield(L, -2, "us");
    lua_rawseti(L, -2, k);
  }
  lua_pushvalue(L, rd.order);
  lua_insert(L, -2);
  return 2;
}

void lsc_lanes_open(lua_State *L) {
  lua_pushcfunction(L, l_lanes);
  lua_setfield(L, -2, "lanes");
  lua_pushcfunction(L, l_stack_sums);
  lua_setfield(L, -2, "stack_sums");
  lua_pushcfunction(L, l_stack_runs);
  lua_setfield(L, -2, "stack_runs");
}
