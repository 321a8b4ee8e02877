/*
** lanes.h: core.lanes, core.stack_sums and core.stack_runs, the analysis's per-thread
** passes over samples, and the samples reader core.engine shares (see
** lanes.c).
*/
#ifndef SC_LANES_H
#define SC_LANES_H

#include "compat.h"

/* Registers lanes(), stack_sums() and stack_runs() in the table on top. */
void lsc_lanes_open(lua_State *L);

/* The thread ids met last, by identity, with their numbers: a string by
   its address (equal strings that Lua interns, as thread ids are, share
   one; two copies of a long one only miss here) or a number by its
   value. A hit spares the lookup in the table of numbers, the dearest
   step of reading a sample. */
#define LANES_CACHE 16
typedef struct lanes_cache {
  int n, next;
  int type[LANES_CACHE], k[LANES_CACHE];
  const char *str[LANES_CACHE];
  lua_Number num[LANES_CACHE];
} lanes_cache;

/* A reader of samples: the columns (the thread_id, timestamp and
   stack_id tables at stack slots at, at + 1, at + 2) or the rows (the
   table of rows at at, when `rows`). lsc_lanes_reader pushes five values
   it keeps (from r->order: the thread ids in order of first appearance,
   a table; then its own), and each read leaves the stack as it was
   after them. */
typedef struct lanes_reader {
  int at, rows, nstacks, order, slot, keys, threads;
  lanes_cache cache;
} lanes_reader;

void lsc_lanes_reader(lua_State *L, int at, int rows, int nstacks, lanes_reader *r);

/* Reads sample i (1-based): its thread's number (1.. in order of first
   appearance, r->threads so far), nanoseconds (as lanes.c computes them)
   and stack id. Returns 0 for what stack_sums declines: a thread id that
   is nil or NaN, a timestamp that is not a number or whose nanoseconds
   Lua cannot hold, a stack id that is not an integer in [0, nstacks), a
   row that is not a table. Time order is the caller's to check. Raises
   only for memory. */
int lsc_lanes_next(lua_State *L, lanes_reader *r, int i, int *k, double *ns, int *sid);

#endif
