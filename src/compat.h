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

/* LuaJIT (its luaconf.h names its module directory): there Lua code the
   JIT traces builds small tables faster than the C API does. */
#ifdef LUA_LJDIR
#define SC_LUAJIT 1
#else
#define SC_LUAJIT 0
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

/* A C function to call under lua_pcall, pushed without allocating. On 5.2+
   a C function with no upvalues is a light value; on 5.1 and LuaJIT
   lua_pushcfunction makes a closure, and running out of memory there
   would raise before the pcall protects anything. So there the closure
   is made once, when the module opens (sc_keep_cfunction), and kept in
   the registry under the address of a static char of the caller's. */
#if LUA_VERSION_NUM == 501
static inline void sc_keep_cfunction(lua_State *L, const char *key, lua_CFunction f) {
  lua_pushlightuserdata(L, (void *)key);
  lua_pushcfunction(L, f);
  lua_rawset(L, LUA_REGISTRYINDEX);
}
static inline void sc_push_kept_cfunction(lua_State *L, const char *key, lua_CFunction f) {
  lua_pushlightuserdata(L, (void *)key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_isnil(L, -1)) { /* the registry entry was removed: make one */
    lua_pop(L, 1);
    lua_pushcfunction(L, f);
  }
}
#else
static inline void sc_keep_cfunction(lua_State *L, const char *key, lua_CFunction f) {
  (void)L; (void)key; (void)f;
}
static inline void sc_push_kept_cfunction(lua_State *L, const char *key, lua_CFunction f) {
  (void)key;
  lua_pushcfunction(L, f);
}
#endif

/* After a protected call failed for memory and its objects were let go:
   5.2+ collects in an emergency when an allocation fails, 5.1 and LuaJIT
   raise at once, so there the garbage is collected before the error
   message and details are made, which would otherwise raise out of a
   function that promises not to. */
static inline void sc_collect_after_oom(lua_State *L) {
#if LUA_VERSION_NUM == 501
  lua_gc(L, LUA_GCCOLLECT, 0);
#else
  (void)L;
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
