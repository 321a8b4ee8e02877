/*
** engine.c: Sentry's call-tree engine (vroom's SampleChunk.CallTrees and
** Node.CollectFunctions), the per-sample part of aggregate.top in C. The
** Lua side (aggregate.lua) names things: it numbers threads, node
** identities, paths, function rows and stack records, and shapes the
** result; this file only walks samples and sums.
**
**   core.engine(durations, from, to) -> engine
**
** from and to (nanoseconds, or nil) clip each node's time, as a view with
** a window does. An engine is fed one answer after another, each thread's
** samples in time order, and keeps only aggregates:
**
**   e:record(path, ids, rows, apps, n) -> r
**     A stack as the engine sees it, root first: the number of its path
**     (one per distinct list of node identities), the node identity, the
**     function row (0: Sentry makes no row of that frame) and the in_app
**     of each of its n frames. Records are 1-based and live as long as
**     the engine, so a thread's last sample can wait for the next answer.
**   e:stacks(map, n)     this answer's stack id i-1 -> record map[i]
**   e:feed_samples(threads, order, carry, thread_id, timestamp, stack_id,
**                  n, nstacks) -> time, samples | nil
**   e:feed_samples(threads, order, carry, rows, n, nstacks) -> ...
**     One answer's samples, read as they are (columns, or rows) with
**     Sentry's weights: each thread's samples, in runs of one stack id,
**     each counted sample weighing the time to the thread's next. A
**     thread's last sample is no sample, or with carry waits for the next
**     answer. New thread ids are numbered in threads (id -> number) and
**     order (number -> id), shared with e:thread. Returns the time and
**     samples counted (the previous answer's waiting ones included); nil,
**     having fed nothing, for what core.stack_sums declines (lanes.h) and
**     a thread out of time order: the caller then goes through its view.
**   e:thread(k, first) -> w | nil
**     Thread k's last sample of the previous answer, weighed now that
**     this answer's first sample of the thread (at first) gives its end:
**     fed, and its weight returned; nil when there was none.
**   e:feed(k, runs, j0, j1)
**     Runs j0..j1 of thread k, made by the caller from its view: runs =
**     {sid =, ts =, count =, stop =}: run j is count[j] samples of record
**     sid[j] from ts[j] to stop[j].
**   e:pend(k, r, ts)     thread k's last sample (record r), weighed later
**   e:finish()           every open node finished; nothing pending
**   e:rows(list, slowest)
**     Writes each row's sums into the Lua table list[i] (total, self,
**     total_samples, root_total, root_self, root_samples, app_seen,
**     system_seen; with durations, occurrences and p75, p95, p99 in
**     seconds: nearest rank over the row's node durations, the root
**     nodes' left out when slowest).
**   e:counts() -> t      t[r] = the samples record r was fed
**
** Numbers are Lua's own arithmetic: on 5.3+ nanoseconds are integers and
** sums wrap as Lua's do; on 5.1 and LuaJIT they are doubles (durations
** are differences of whole nanoseconds, so sums below 2^53 ns, 104 days,
** are exact in any order). A timestamp that is not a number, or on 5.3+
** not a whole number of nanoseconds, raises, as the Lua arithmetic it
** replaced did. Everything is allocated with the Lua state's allocator
** and freed by __gc: a failed allocation raises and leaks nothing (the
** engine's sums are then incomplete; its caller has failed anyway).
*/
#include <math.h>
#include <string.h>

#include "compat.h"
#include "engine.h"
#include "lanes.h"

#define ENGINE_MT "sentry.chunks.engine"

#if SC_HAS_INTEGERS
typedef lua_Integer eng_ns;
#define eng_add(a, b) ((eng_ns)((lua_Unsigned)(a) + (lua_Unsigned)(b)))
#define eng_sub(a, b) ((eng_ns)((lua_Unsigned)(a) - (lua_Unsigned)(b)))
#define eng_pushns(L, x) lua_pushinteger((L), (x))
#else
typedef lua_Number eng_ns;
#define eng_add(a, b) ((a) + (b))
#define eng_sub(a, b) ((a) - (b))
#define eng_pushns(L, x) lua_pushnumber((L), (x))
#endif

typedef struct eng_vec { /* a growing list of durations */
  eng_ns *v;
  size_t n, cap;
} eng_vec;

typedef struct eng_row { /* one function's sums (Lua's row, by number) */
  eng_ns total, self, root_total, root_self;
  long long total_samples, root_samples;
  int app_seen, system_seen;
  eng_vec durations, root_durations;
} eng_row;

typedef struct eng_record { /* one stack, root first */
  int path, depth;
  int *ids, *rows;      /* depth each, one block with apps */
  unsigned char *apps;
  long long count;      /* samples fed */
} eng_record;

/* A thread: the chain of last nodes, root first (identity, start, and
   end and samples once off the current path, the count at which a node
   on the path opened, its row, its in_app, its children's app and system
   time); the current path's length, record and end; the sample count. */
typedef struct eng_thread {
  int cap, clen, plen, last_rec; /* last_rec: 0 for none */
  int has_pend, pending_rec;     /* pending_rec: 0 for none */
  eng_ns pend, pending_ts;
  long long k;
  int *cid, *crow;
  unsigned char *capp;
  eng_ns *cstart, *cend, *chapp, *chsys;
  long long *ccount, *kopen;
} eng_thread;

typedef struct eng {
  lua_Alloc alloc;
  void *alloc_ud;
  int durations, has_from, has_to;
  eng_ns from, to;
  eng_row *rows;
  int nrows, rows_cap;
  eng_record *recs;
  int nrecs, recs_cap;
  eng_thread *threads;
  int nthreads, threads_cap;
  int *map; /* stack id -> record, this answer's */
  int map_n, map_cap;
} eng;

/* ---- memory: the Lua state's allocator; raises with *p unchanged ---- */

static void *eng_realloc(lua_State *L, eng *e, void *p, size_t old, size_t size) {
  void *q = e->alloc(e->alloc_ud, p, old, size);
  if (q == NULL && size > 0) luaL_error(L, "not enough memory");
  return q;
}

static void eng_free(eng *e, void *p, size_t size) {
  if (p != NULL) e->alloc(e->alloc_ud, p, size, 0);
}

/* Room for `need` items of `size` bytes in *p (capacity *cap, items). */
static void eng_reserve(lua_State *L, eng *e, void **p, int *cap, int need, size_t size) {
  if (need <= *cap) return;
  int c = *cap > 0 ? *cap : 8;
  while (c < need) c *= 2;
  *p = eng_realloc(L, e, *p, (size_t)*cap * size, (size_t)c * size);
  memset((char *)*p + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
  *cap = c;
}

static void eng_push_duration(lua_State *L, eng *e, eng_vec *d, eng_ns x) {
  if (d->n == d->cap) {
    size_t c = d->cap ? d->cap * 2 : 16;
    d->v = (eng_ns *)eng_realloc(L, e, d->v, d->cap * sizeof *d->v, c * sizeof *d->v);
    d->cap = c;
  }
  d->v[d->n++] = x;
}

/* The chain arrays of thread t, with room for depth `need`. */
static void eng_thread_room(lua_State *L, eng *e, eng_thread *t, int need) {
  if (need <= t->cap) return;
  int c = t->cap > 0 ? t->cap : 32;
  while (c < need) c *= 2;
  size_t o = (size_t)t->cap, n = (size_t)c;
#define ENG_GROW(field, type) \
  t->field = (type *)eng_realloc(L, e, t->field, o * sizeof(type), n * sizeof(type))
  ENG_GROW(cid, int);
  ENG_GROW(crow, int);
  ENG_GROW(capp, unsigned char);
  ENG_GROW(cstart, eng_ns);
  ENG_GROW(cend, eng_ns);
  ENG_GROW(chapp, eng_ns);
  ENG_GROW(chsys, eng_ns);
  ENG_GROW(ccount, long long);
  ENG_GROW(kopen, long long);
#undef ENG_GROW
  t->cap = c;
}

static void eng_thread_free(eng *e, eng_thread *t) {
  size_t c = (size_t)t->cap;
  eng_free(e, t->cid, c * sizeof(int));
  eng_free(e, t->crow, c * sizeof(int));
  eng_free(e, t->capp, c);
  eng_free(e, t->cstart, c * sizeof(eng_ns));
  eng_free(e, t->cend, c * sizeof(eng_ns));
  eng_free(e, t->chapp, c * sizeof(eng_ns));
  eng_free(e, t->chsys, c * sizeof(eng_ns));
  eng_free(e, t->ccount, c * sizeof(long long));
  eng_free(e, t->kopen, c * sizeof(long long));
}

static size_t eng_record_bytes(int depth) {
  return (size_t)depth * (2 * sizeof(int) + 1) + 1;
}

static int eng_gc(lua_State *L) {
  eng *e = (eng *)luaL_checkudata(L, 1, ENGINE_MT);
  for (int i = 0; i < e->nrows; i++) {
    eng_free(e, e->rows[i].durations.v, e->rows[i].durations.cap * sizeof(eng_ns));
    eng_free(e, e->rows[i].root_durations.v, e->rows[i].root_durations.cap * sizeof(eng_ns));
  }
  eng_free(e, e->rows, (size_t)e->rows_cap * sizeof(eng_row));
  for (int i = 0; i < e->nrecs; i++) eng_free(e, e->recs[i].ids, eng_record_bytes(e->recs[i].depth));
  eng_free(e, e->recs, (size_t)e->recs_cap * sizeof(eng_record));
  for (int i = 0; i < e->nthreads; i++) eng_thread_free(e, &e->threads[i]);
  eng_free(e, e->threads, (size_t)e->threads_cap * sizeof(eng_thread));
  eng_free(e, e->map, (size_t)e->map_cap * sizeof(int));
  memset(e, 0, sizeof *e); /* a second __gc (resurrection) frees nothing */
  e->alloc = lua_getallocf(L, &e->alloc_ud);
  return 0;
}

/* ---- reading Lua values ---- */

/* Nanoseconds at stack index i, as the Lua engine's arithmetic had them. */
static eng_ns eng_checkns(lua_State *L, int i, const char *what) {
#if SC_HAS_INTEGERS
  int ok;
  lua_Integer x = lua_tointegerx(L, i, &ok);
  if (!ok) luaL_error(L, "engine: %s is not a whole number of nanoseconds", what);
  return x;
#else
  if (lua_type(L, i) != LUA_TNUMBER) luaL_error(L, "engine: %s is not a number", what);
  return lua_tonumber(L, i);
#endif
}

static int eng_int(lua_State *L, int i, int lo, int hi, const char *what) {
  lua_Number x = lua_type(L, i) == LUA_TNUMBER ? lua_tonumber(L, i) : -1;
  if (!(x >= lo && x <= hi) || x != floor(x)) luaL_error(L, "engine: bad %s", what);
  return (int)x;
}

static eng *eng_check(lua_State *L) { return (eng *)luaL_checkudata(L, 1, ENGINE_MT); }


/* ---- the engine ---- */

/* Finishes the node at depth d (0-based) of thread t: its children are
   finished. Its row takes its duration (clipped to from/to), samples and
   self time (an in-app node's duration less its in-app descendants',
   a system node's less all its children's). */
static void eng_finish(lua_State *L, eng *e, eng_thread *t, int d) {
  int on_path = d < t->plen;
  long long count = on_path ? t->k - t->kopen[d] : t->ccount[d];
  eng_ns a = t->cstart[d], b = on_path ? t->pend : t->cend[d];
  if (e->has_from && a < e->from) a = e->from;
  if (e->has_to && b > e->to) b = e->to;
  eng_ns dur = b > a ? eng_sub(b, a) : 0;
  eng_ns child_app = t->chapp[d], child_sys = t->chsys[d];
  eng_ns app = child_app < dur ? child_app : dur;
  int r = t->crow[d];
  if (r > 0) {
    eng_row *row = &e->rows[r - 1];
    int in_app = t->capp[d];
    eng_ns self = 0;
    if (in_app) {
      if (dur > child_app) {
        self = eng_sub(dur, child_app);
        app = eng_add(app, self);
      }
    } else if (dur > eng_add(child_app, child_sys)) {
      self = eng_sub(eng_sub(dur, child_app), child_sys);
    }
    row->total = eng_add(row->total, dur);
    row->total_samples += count;
    row->self = eng_add(row->self, self);
    if (in_app) row->app_seen = 1; else row->system_seen = 1;
    eng_vec *durations = &row->durations;
    if (d == 0) {
      row->root_total = eng_add(row->root_total, dur);
      row->root_samples += count;
      row->root_self = eng_add(row->root_self, self);
      durations = &row->root_durations;
    }
    if (e->durations) eng_push_duration(L, e, durations, dur);
  }
  if (d > 0) {
    t->chapp[d - 1] = eng_add(t->chapp[d - 1], app);
    t->chsys[d - 1] = eng_add(t->chsys[d - 1], eng_sub(dur, app));
  }
}

/* n samples of record r on thread t from ts, the last of them ending at
   stop. A node continues while the samples' paths share it and it ended
   at the sample's time; only where the path changes is there work. */
static void eng_sample(lua_State *L, eng *e, eng_thread *t, int r, eng_ns ts, eng_ns stop,
                       long long n) {
  eng_record *rec = &e->recs[r - 1];
  if (t->last_rec > 0 && e->recs[t->last_rec - 1].path == rec->path && t->has_pend &&
      t->pend == ts) {
    t->k += n;
    t->pend = stop;
    return;
  }
  int depth = rec->depth, clen = t->clen, plen = t->plen, m = 0;
  eng_thread_room(L, e, t, depth);
  while (m < clen && m < depth && t->cid[m] == rec->ids[m] &&
         (m < plen ? (t->has_pend && t->pend == ts) : t->cend[m] == ts))
    m++;
  long long k = t->k;
  for (int d = plen; d < m; d++) t->kopen[d] = k - t->ccount[d]; /* taken up again */
  for (int d = m; d < plen; d++) { /* off the path, still in the chain */
    t->ccount[d] = k - t->kopen[d];
    t->cend[d] = t->pend;
  }
  if (depth > m) {
    for (int d = clen - 1; d >= m; d--) eng_finish(L, e, t, d);
    for (int d = m; d < depth; d++) {
      t->cid[d] = rec->ids[d];
      t->cstart[d] = ts;
      t->kopen[d] = k;
      t->crow[d] = rec->rows[d];
      t->capp[d] = rec->apps[d];
      t->chapp[d] = t->chsys[d] = 0;
    }
    t->clen = depth;
  }
  t->plen = depth;
  t->pend = stop;
  t->has_pend = 1;
  t->k = k + n;
  t->last_rec = r;
}

/* Thread k (1-based), made when k is the next number. */
static eng_thread *eng_thread_get(lua_State *L, eng *e, lua_Integer k, int arg) {
  luaL_argcheck(L, k >= 1 && k <= (lua_Integer)e->nthreads + 1, arg, "thread number out of order");
  if (k > e->nthreads) {
    eng_reserve(L, e, (void **)&e->threads, &e->threads_cap, (int)k, sizeof(eng_thread));
    e->nthreads = (int)k;
  }
  return &e->threads[k - 1];
}

/* n samples of record r from ts to stop on thread t, counted. */
static void eng_feed_run(lua_State *L, eng *e, eng_thread *t, int r, eng_ns ts, eng_ns stop,
                         long long n) {
  eng_sample(L, e, t, r, ts, stop, n);
  e->recs[r - 1].count += n;
}

/* The previous answer's last sample of thread t, now that `first` ends
   it: fed, and its weight added to *time. */
static void eng_take_pending(lua_State *L, eng *e, eng_thread *t, eng_ns first, eng_ns *time,
                             long long *samples) {
  int r = t->pending_rec;
  if (r == 0) return;
  t->pending_rec = 0;
  eng_feed_run(L, e, t, r, t->pending_ts, first, 1);
  *time = eng_add(*time, eng_sub(first, t->pending_ts));
  ++*samples;
}

/* ---- bindings ---- */

static int l_engine(lua_State *L) {
  lua_settop(L, 3); /* the engine goes above its arguments */
  int durations = lua_toboolean(L, 1);
  eng *e = (eng *)lua_newuserdata(L, sizeof *e);
  memset(e, 0, sizeof *e);
  e->alloc = lua_getallocf(L, &e->alloc_ud);
  luaL_getmetatable(L, ENGINE_MT);
  lua_setmetatable(L, -2);
  e->durations = durations;
  if (!lua_isnoneornil(L, 2)) {
    e->has_from = 1;
    e->from = eng_checkns(L, 2, "from");
  }
  if (!lua_isnoneornil(L, 3)) {
    e->has_to = 1;
    e->to = eng_checkns(L, 3, "to");
  }
  return 1;
}

static int l_record(lua_State *L) {
  eng *e = eng_check(L);
  int path = (int)luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  luaL_checktype(L, 5, LUA_TTABLE);
  int depth = (int)luaL_checkinteger(L, 6);
  luaL_argcheck(L, depth >= 0 && depth < (1 << 24), 6, "depth out of range");
  eng_reserve(L, e, (void **)&e->recs, &e->recs_cap, e->nrecs + 1, sizeof(eng_record));
  int *block = (int *)eng_realloc(L, e, NULL, 0, eng_record_bytes(depth));
  eng_record *rec = &e->recs[e->nrecs];
  rec->path = path;
  rec->depth = depth;
  rec->count = 0;
  rec->ids = block;
  rec->rows = block + depth;
  rec->apps = (unsigned char *)(block + 2 * depth);
  e->nrecs++; /* owned from here: __gc frees it even if a check raises */
  int maxrow = 0;
  for (int d = 0; d < depth; d++) {
    lua_rawgeti(L, 3, d + 1);
    rec->ids[d] = eng_int(L, -1, 0, 0x7fffffff, "node identity");
    lua_rawgeti(L, 4, d + 1);
    rec->rows[d] = eng_int(L, -1, 0, 1 << 30, "row");
    lua_rawgeti(L, 5, d + 1);
    rec->apps[d] = (unsigned char)lua_toboolean(L, -1);
    lua_pop(L, 3);
    if (rec->rows[d] > maxrow) maxrow = rec->rows[d];
  }
  if (maxrow > e->nrows) {
    eng_reserve(L, e, (void **)&e->rows, &e->rows_cap, maxrow, sizeof(eng_row));
    e->nrows = maxrow;
  }
  lua_pushinteger(L, e->nrecs);
  return 1;
}

static int l_stacks(lua_State *L) {
  eng *e = eng_check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  int n = (int)luaL_checkinteger(L, 3);
  luaL_argcheck(L, n >= 0, 3, "negative count");
  eng_reserve(L, e, (void **)&e->map, &e->map_cap, n, sizeof(int));
  e->map_n = 0;
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 2, i + 1);
    e->map[i] = eng_int(L, -1, 1, e->nrecs, "record");
    lua_pop(L, 1);
  }
  e->map_n = n;
  return 0;
}

static int l_thread(lua_State *L) {
  eng *e = eng_check(L);
  eng_thread *t = eng_thread_get(L, e, luaL_checkinteger(L, 2), 2);
  eng_ns first = eng_checkns(L, 3, "a thread's first timestamp"), time = 0;
  long long samples = 0;
  eng_take_pending(L, e, t, first, &time, &samples);
  if (samples == 0) return 0;
  eng_pushns(L, time);
  return 1;
}

enum { F_SELF = 1, F_K, F_RUNS, F_J0, F_J1, F_REC, F_TS, F_COUNT, F_STOP };

static int l_feed(lua_State *L) {
  eng *e = eng_check(L);
  eng_thread *t = eng_thread_get(L, e, luaL_checkinteger(L, F_K), F_K);
  luaL_checktype(L, F_RUNS, LUA_TTABLE);
  lua_Integer j0 = luaL_checkinteger(L, F_J0), j1 = luaL_checkinteger(L, F_J1);
  lua_settop(L, F_J1);
  lua_getfield(L, F_RUNS, "sid");
  lua_getfield(L, F_RUNS, "ts");
  lua_getfield(L, F_RUNS, "count");
  lua_getfield(L, F_RUNS, "stop");
  for (int i = F_REC; i <= F_STOP; i++) luaL_argcheck(L, lua_istable(L, i), F_RUNS, "runs without sid, ts, count and stop");
  luaL_argcheck(L, j0 >= 1 && j1 <= (lua_Integer)sc_rawlen(L, F_REC), F_J0, "runs out of range");
  for (lua_Integer j = j0; j <= j1; j++) {
    lua_rawgeti(L, F_REC, (int)j);
    lua_rawgeti(L, F_TS, (int)j);
    lua_rawgeti(L, F_COUNT, (int)j);
    lua_rawgeti(L, F_STOP, (int)j);
    int r = eng_int(L, -4, 1, e->nrecs, "record");
    eng_ns ts = eng_checkns(L, -3, "a timestamp");
    long long n = eng_int(L, -2, 1, 0x7fffffff, "count");
    eng_ns stop = eng_checkns(L, -1, "a run's end");
    lua_pop(L, 4);
    eng_feed_run(L, e, t, r, ts, stop, n);
  }
  return 0;
}

static int l_pend(lua_State *L) {
  eng *e = eng_check(L);
  eng_thread *t = eng_thread_get(L, e, luaL_checkinteger(L, 2), 2);
  int r = eng_int(L, 3, 1, e->nrecs, "record");
  t->pending_ts = eng_checkns(L, 4, "a timestamp");
  t->pending_rec = r;
  return 0;
}

/* A thread of the answer in feed_samples: its engine thread, its first
   and last sample so far, and its open run (consecutive counted samples
   of one stack id, whose end the next run's start gives). */
typedef struct eng_lane {
  int k, seen, prev_sid, run_sid, has_run;
  double first_ns, prev_ns, run_ns;
  long long run_count;
} eng_lane;

/* A closed run, kept until every sample has been read: a thread out of
   time order declines the answer, and nothing may have been fed then. */
typedef struct eng_run {
  int lane, sid;
  double start, stop;
  long long count;
} eng_run;

#if SC_HAS_INTEGERS
#define eng_fromns(x) ((lua_Integer)(x)) /* lanes_ns made it whole and in range */
#else
#define eng_fromns(x) (x)
#endif

enum { P_SELF = 1, P_THREADS, P_ORDER, P_CARRY, P_AT };

/* Room for one more item in the scratch array at stack slot `at` (cap
   items of `size` bytes, n used): a larger userdata replaces it there
   (the collector frees the old one, so an error leaks nothing). */
static void *eng_room(lua_State *L, int at, void *old, int n, int *cap, size_t size) {
  if (n < *cap) return old;
  int c = *cap ? *cap * 2 : 64;
  void *grown = lua_newuserdata(L, (size_t)c * size);
  if (n > 0) memcpy(grown, old, (size_t)n * size);
  lua_replace(L, at);
  *cap = c;
  return grown;
}

static int l_feed_samples(lua_State *L) {
  eng *e = eng_check(L);
  luaL_checktype(L, P_THREADS, LUA_TTABLE);
  luaL_checktype(L, P_ORDER, LUA_TTABLE);
  int carry = lua_toboolean(L, P_CARRY);
  int rows = lua_gettop(L) <= P_AT + 2, at_n = rows ? P_AT + 1 : P_AT + 3;
  luaL_checktype(L, P_AT, LUA_TTABLE);
  if (!rows) {
    luaL_checktype(L, P_AT + 1, LUA_TTABLE);
    luaL_checktype(L, P_AT + 2, LUA_TTABLE);
  }
  luaL_argcheck(L, luaL_checkinteger(L, at_n + 1) == e->map_n, at_n + 1,
                "not the stack count of the answer given to stacks()");
  lua_Number nn = lua_type(L, at_n) == LUA_TNUMBER ? lua_tonumber(L, at_n) : -1;
  if (!(nn >= 0 && nn <= 0x3fffffff) || nn != floor(nn)) return 0;
  int n = (int)nn;
  lua_settop(L, at_n + 1);
  /* One pass reads every sample once: it numbers its thread, checks the
     thread's time order, and closes the thread's runs into `run`, fed to
     the engine only after the pass (a decline feeds nothing). Runs are
     fewer than the samples: 11% of them in the real Python fixture, 12%
     in the generated day, under 1% in the Java one (32 bytes a run). */
  lanes_reader rd;
  lsc_lanes_reader(L, P_AT, rows, e->map_n, &rd);
  lua_pushnil(L); /* lanes_at: the lanes, a userdata */
  lua_pushnil(L); /* runs_at: the closed runs, a userdata */
  int lanes_at = lua_gettop(L) - 1, runs_at = lanes_at + 1;
  luaL_checkstack(L, 8, "samples"); /* a sample's reads, a grown scratch */
  int lane_cap = 0, run_cap = 0, nruns = 0, k, sid;
  eng_lane *lane = NULL;
  eng_run *run = NULL;
  eng_ns time = 0;
  long long samples = 0;
  double t;
  for (int i = 1; i <= n; i++) {
    if (!lsc_lanes_next(L, &rd, i, &k, &t, &sid) || k > 0xffff) return 0;
    if (k >= lane_cap) { /* a new thread (lane[0] unused) */
      int had = lane_cap;
      lane = (eng_lane *)eng_room(L, lanes_at, lane, lane_cap, &lane_cap, sizeof *lane);
      memset(lane + had, 0, (size_t)(lane_cap - had) * sizeof *lane);
    }
    eng_lane *p = &lane[k];
    if (!p->seen) {
      p->seen = 1;
      p->first_ns = t;
    } else { /* the thread's previous sample counts, its weight known */
      if (t < p->prev_ns) return 0; /* out of order: the Lua path sorts */
      time = eng_add(time, eng_sub(eng_fromns(t), eng_fromns(p->prev_ns)));
      samples++;
      if (p->has_run && p->run_sid == p->prev_sid) {
        p->run_count++;
      } else {
        if (p->has_run) {
          run = (eng_run *)eng_room(L, runs_at, run, nruns, &run_cap, sizeof *run);
          run[nruns++] = (eng_run){k, p->run_sid, p->run_ns, p->prev_ns, p->run_count};
        }
        p->has_run = 1;
        p->run_sid = p->prev_sid;
        p->run_ns = p->prev_ns;
        p->run_count = 1;
      }
    }
    p->prev_ns = t;
    p->prev_sid = sid;
  }
  /* The answer's threads get the engine's numbers (threads: id -> number,
     order: number -> id), and each takes the weight of the sample pending
     from the answer before, ahead of its runs. */
  for (int j = 1; j <= rd.threads; j++) {
    lua_rawgeti(L, rd.order, j);
    lua_pushvalue(L, -1);
    lua_rawget(L, P_THREADS);
    lua_Integer num = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (num == 0) {
      num = (lua_Integer)sc_rawlen(L, P_ORDER) + 1;
      lua_pushvalue(L, -1);
      lua_pushinteger(L, num);
      lua_rawset(L, P_THREADS);
      lua_pushvalue(L, -1);
      lua_rawseti(L, P_ORDER, (int)num);
    }
    lua_pop(L, 1);
    eng_thread_get(L, e, num, P_ORDER);
    lane[j].k = (int)num;
  }
  for (int j = 1; j <= rd.threads; j++)
    eng_take_pending(L, e, &e->threads[lane[j].k - 1], eng_fromns(lane[j].first_ns), &time, &samples);
  /* threads[] may move as eng_thread_get grows it: indexed after, not before */
  for (int r = 0; r < nruns; r++) {
    const eng_run *q = &run[r];
    eng_feed_run(L, e, &e->threads[lane[q->lane].k - 1], e->map[q->sid], eng_fromns(q->start),
                 eng_fromns(q->stop), q->count);
  }
  for (int j = 1; j <= rd.threads; j++) {
    eng_lane *p = &lane[j];
    eng_thread *th = &e->threads[p->k - 1];
    if (p->has_run) eng_feed_run(L, e, th, e->map[p->run_sid], eng_fromns(p->run_ns), eng_fromns(p->prev_ns),
                                 p->run_count);
    if (carry) { /* its weight comes with the next answer */
      th->pending_rec = e->map[p->prev_sid];
      th->pending_ts = eng_fromns(p->prev_ns);
    }
  }
  eng_pushns(L, time);
  sc_pushint64(L, samples);
  return 2;
}

static int l_finish(lua_State *L) {
  eng *e = eng_check(L);
  for (int i = 0; i < e->nthreads; i++) {
    eng_thread *t = &e->threads[i];
    for (int d = t->clen - 1; d >= 0; d--) eng_finish(L, e, t, d);
    t->clen = t->plen = 0;
    t->pending_rec = 0;
  }
  return 0;
}

/* The k-th smallest (0-based) of v[0..n), reordering v: Wirth's
   selection, as samples.select_kth. */
static eng_ns eng_select(eng_ns *v, long long n, long long k) {
  long long lo = 0, hi = n - 1;
  while (lo < hi) {
    eng_ns pivot = v[lo + (hi - lo) / 2];
    long long i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        eng_ns x = v[i];
        v[i] = v[j];
        v[j] = x;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return v[k];
  }
  return v[lo];
}

static void eng_setns(lua_State *L, const char *field, eng_ns x) {
  eng_pushns(L, x);
  lua_setfield(L, -2, field);
}

static void eng_setcount(lua_State *L, const char *field, long long x) {
  sc_pushint64(L, x);
  lua_setfield(L, -2, field);
}

/* occurrences, p75, p95, p99 of the n durations in v (reordered). Each
   selection leaves v[0..k) <= v[k] <= v[k+1..n), so the next, of a higher
   rank, looks only from k on. */
static void eng_percentiles(lua_State *L, eng_ns *v, size_t n) {
  static const struct { const char *field; double q; } at[] = {
    {"p75", 0.75}, {"p95", 0.95}, {"p99", 0.99}};
  lua_pushinteger(L, (lua_Integer)n);
  lua_setfield(L, -2, "occurrences");
  long long from = 0;
  for (int i = 0; i < 3; i++) {
    if (n == 0) break;
    double rank = ceil((double)n * at[i].q);
    long long k = rank < 1 ? 0 : (long long)rank - 1;
    eng_ns x = eng_select(v + from, (long long)n - from, k - from);
    lua_pushnumber(L, (lua_Number)x / 1e9);
    lua_setfield(L, -2, at[i].field);
    from = k;
  }
}

static int l_rows(lua_State *L) {
  eng *e = eng_check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  int slowest = lua_toboolean(L, 3);
  for (int i = 0; i < e->nrows; i++) {
    lua_rawgeti(L, 2, i + 1);
    if (!lua_istable(L, -1)) luaL_error(L, "engine: row %d has no table", i + 1);
    eng_row *row = &e->rows[i];
    eng_setns(L, "total", row->total);
    eng_setns(L, "self", row->self);
    eng_setns(L, "root_total", row->root_total);
    eng_setns(L, "root_self", row->root_self);
    eng_setcount(L, "total_samples", row->total_samples);
    eng_setcount(L, "root_samples", row->root_samples);
    if (row->app_seen) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "app_seen");
    }
    if (row->system_seen) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "system_seen");
    }
    if (e->durations) {
      eng_vec *d = &row->durations, *root = &row->root_durations;
      if (!slowest && root->n > 0) { /* the root nodes' durations join the rest */
        size_t n = d->n + root->n;
        if (n > d->cap) {
          d->v = (eng_ns *)eng_realloc(L, e, d->v, d->cap * sizeof(eng_ns), n * sizeof(eng_ns));
          d->cap = n;
        }
        memcpy(d->v + d->n, root->v, root->n * sizeof(eng_ns));
        d->n = n;
        root->n = 0;
      }
      eng_percentiles(L, d->v, d->n);
    }
    lua_pop(L, 1);
  }
  return 0;
}

static int l_counts(lua_State *L) {
  eng *e = eng_check(L);
  lua_createtable(L, e->nrecs, 0);
  for (int i = 0; i < e->nrecs; i++) {
    sc_pushint64(L, e->recs[i].count);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_tostring(lua_State *L) {
  eng *e = eng_check(L);
  lua_pushfstring(L, "sentry.chunks engine (%d threads, %d rows)", e->nthreads, e->nrows);
  return 1;
}

void lsc_engine_open(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"record", l_record}, {"stacks", l_stacks}, {"thread", l_thread}, {"feed", l_feed},
    {"feed_samples", l_feed_samples},
    {"pend", l_pend}, {"finish", l_finish}, {"rows", l_rows}, {"counts", l_counts},
    {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", eng_gc}, {"__tostring", l_tostring}, {NULL, NULL}};
  sc_newclass(L, ENGINE_MT, methods, meta);
  lua_pushcfunction(L, l_engine);
  lua_setfield(L, -2, "engine");
}
