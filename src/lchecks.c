/*
** lchecks.c: the per-element half of the shape test every answer passes
** (sentry.chunks.answer.shape_problem), in C. In Lua, testing a window's
** million samples took half as long as decoding them on Lua 5.4, where
** each type() call interns its answer.
**
**   core.bad_sample(samples, n) -> i | nil | false
**
** samples in columns ({stack_id =, timestamp =, ...}: is_columns) or in
** rows (an array of {stack_id =, timestamp =, ...}); n the count to test.
** i is the first sample whose stack_id or timestamp is not a number, or,
** in rows, that is not a table. nil: all n pass.
**
**   core.bad_stack(stacks, n) -> i | nil | false
**
** i is the first of stacks[1..n] that is not a list (a table whose [1] is
** set, or an empty table) of numbers up to its length #.
**
** Reads are raw; a table whose metatable has __index or __len (which the
** Lua test would obey) makes the answer false: "not here, test in Lua".
** The decoder's tables never have one (an empty array's metatable has
** neither). Values are compared by lua_type, as type() does: a numeric
** string is a string. Raises only for a wrong argument type.
*/
#include "compat.h"
#include "lchecks.h"

/* Whether the table at idx reads the same raw as through metamethods. */
static int plain_table(lua_State *L, int idx) {
  int plain = 1;
  if (!lua_getmetatable(L, idx)) return 1;
  lua_pushliteral(L, "__index");
  lua_rawget(L, -2);
  plain = lua_isnil(L, -1);
  lua_pop(L, 1);
  lua_pushliteral(L, "__len");
  lua_rawget(L, -2);
  plain = plain && lua_isnil(L, -1);
  lua_pop(L, 2);
  return plain;
}

/* The count argument: an integer >= 0 (a programmer's mistake if not). */
static int check_count(lua_State *L, int arg) {
  lua_Number n = luaL_checknumber(L, arg);
  luaL_argcheck(L, n >= 0 && n <= (lua_Number)0x7fffffff && n == (lua_Number)(int)n, arg,
                "count must be a non-negative integer");
  return (int)n;
}

/* Pushes i as the answer (a Lua integer where there are integers). */
static int push_index(lua_State *L, int i) {
  sc_pushint64(L, i);
  return 1;
}

/* Columns at idx: the first i whose stack_id or timestamp is not a number. */
static int bad_in_columns(lua_State *L, int idx, int n) {
  int sid, ts, i;
  lua_getfield(L, idx, "stack_id");
  lua_getfield(L, idx, "timestamp");
  sid = lua_gettop(L) - 1;
  ts = sid + 1;
  if (!lua_istable(L, sid) || !lua_istable(L, ts)) return push_index(L, 1);
  if (!plain_table(L, sid) || !plain_table(L, ts)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  for (i = 1; i <= n; i++) {
    int ok;
    lua_rawgeti(L, sid, i);
    lua_rawgeti(L, ts, i);
    ok = lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TNUMBER;
    lua_pop(L, 2);
    if (!ok) return push_index(L, i);
  }
  lua_pushnil(L);
  return 1;
}

/* Rows at idx: the first i that is not a table with number stack_id and
   timestamp. */
static int bad_in_rows(lua_State *L, int idx, int n) {
  int i, sid_key, ts_key;
  lua_pushliteral(L, "stack_id");
  lua_pushliteral(L, "timestamp");
  sid_key = lua_gettop(L) - 1;
  ts_key = sid_key + 1;
  for (i = 1; i <= n; i++) {
    int ok;
    lua_rawgeti(L, idx, i);
    if (!lua_istable(L, -1)) return push_index(L, i);
    if (!plain_table(L, -1)) {
      lua_pushboolean(L, 0);
      return 1;
    }
    lua_pushvalue(L, sid_key);
    lua_rawget(L, -2);
    lua_pushvalue(L, ts_key);
    lua_rawget(L, -3);
    ok = lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TNUMBER;
    lua_pop(L, 3);
    if (!ok) return push_index(L, i);
  }
  lua_pushnil(L);
  return 1;
}

static int l_bad_sample(lua_State *L) {
  int n;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = check_count(L, 2);
  if (n == 0) {
    lua_pushnil(L);
    return 1;
  }
  if (!plain_table(L, 1)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_rawgeti(L, 1, 1);
  if (lua_isnil(L, -1)) { /* columns have no [1]; rows start there */
    lua_pop(L, 1);
    return bad_in_columns(L, 1, n);
  }
  lua_pop(L, 1);
  return bad_in_rows(L, 1, n);
}

static int l_bad_stack(lua_State *L) {
  int n, i;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = check_count(L, 2);
  if (n > 0 && !plain_table(L, 1)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  for (i = 1; i <= n; i++) {
    int st, j, len;
    lua_rawgeti(L, 1, i);
    st = lua_gettop(L);
    if (!lua_istable(L, st)) return push_index(L, i);
    if (!plain_table(L, st)) {
      lua_pushboolean(L, 0);
      return 1;
    }
    lua_rawgeti(L, st, 1);
    if (lua_isnil(L, -1)) { /* a list only when empty */
      lua_pushnil(L);
      if (lua_next(L, st)) return push_index(L, i);
      lua_pop(L, 2); /* [1] and the stack */
      continue;
    }
    lua_pop(L, 1);
    len = (int)sc_rawlen(L, st);
    for (j = 1; j <= len; j++) {
      int number;
      lua_rawgeti(L, st, j);
      number = lua_type(L, -1) == LUA_TNUMBER;
      lua_pop(L, 1);
      if (!number) return push_index(L, i);
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  return 1;
}

void lsc_checks_open(lua_State *L) {
  lua_pushcfunction(L, l_bad_sample);
  lua_setfield(L, -2, "bad_sample");
  lua_pushcfunction(L, l_bad_stack);
  lua_setfield(L, -2, "bad_stack");
}
