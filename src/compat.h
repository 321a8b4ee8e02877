/*
** compat.h: every difference between Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1
** that the C core meets, behind sc_-prefixed names. Nothing else in src/
** tests LUA_VERSION_NUM.
*/
#ifndef SC_COMPAT_H
#define SC_COMPAT_H

#include "lua.h"
#include "lauxlib.h"

#if LUA_VERSION_NUM >= 503
#define SC_HAS_INTEGERS 1
#else
#define SC_HAS_INTEGERS 0
#endif

#if LUA_VERSION_NUM == 501
#define sc_rawlen(L, i) lua_objlen((L), (i))
#else
#define sc_rawlen(L, i) lua_rawlen((L), (i))
#endif

/* JSON integers: Lua integers where the Lua has them, doubles elsewhere. */
static inline void sc_pushint64(lua_State *L, long long v) {
#if SC_HAS_INTEGERS
  lua_pushinteger(L, (lua_Integer)v);
#else
  lua_pushnumber(L, (lua_Number)v);
#endif
}

/* luaL_setfuncs with no upvalues; LuaJIT 2.1 has it, plain 5.1 does not. */
static inline void sc_setfuncs(lua_State *L, const luaL_Reg *l) {
#if LUA_VERSION_NUM == 501
  for (; l->name != NULL; l++) {
    lua_pushcfunction(L, l->func);
    lua_setfield(L, -2, l->name);
  }
#else
  luaL_setfuncs(L, l, 0);
#endif
}

/* luaL_testudata: the userdata at i if its metatable is tname's, else NULL. */
static inline void *sc_testudata(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  if (p == NULL || !lua_getmetatable(L, i)) return NULL;
  luaL_getmetatable(L, tname);
  if (!lua_rawequal(L, -1, -2)) p = NULL;
  lua_pop(L, 2);
  return p;
}

/* A metatable with the given methods as __index, plus the metamethods. */
static inline void sc_newclass(lua_State *L, const char *tname,
                               const luaL_Reg *methods, const luaL_Reg *meta) {
  luaL_newmetatable(L, tname);
  sc_setfuncs(L, meta);
  lua_newtable(L);
  sc_setfuncs(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

#endif
