/*
** lsentry_chunks.c: luaopen for sentry.chunks.core, the C part of
** sentry.chunks. Each binding file registers its own functions.
*/
#include "compat.h"
#include "engine.h"
#include "lchecks.h"
#include "lanes.h"
#include "ldecoder.h"
#include "lrequest.h"

#ifdef __GNUC__
__attribute__((visibility("default")))
#endif
int luaopen_sentry_chunks_core(lua_State *L);

/* core.new_array(n) -> an empty table with room for n array slots (as
   LuaJIT's table.new(n, 0)): the analysis fills arrays whose sizes it
   knows, which grown by appending end up to half empty. n comes from
   data (a sample count): past 2^26 the room is 2^26, never an error. The
   number is checked before the cast: NaN or a huge double converts
   undefinedly. */
static int l_new_array(lua_State *L) {
  lua_Number n = luaL_checknumber(L, 1);
  luaL_argcheck(L, n >= 0, 1, "size must not be negative");
  lua_createtable(L, n < (lua_Number)(1 << 26) ? (int)n : 1 << 26, 0);
  return 1;
}

int luaopen_sentry_chunks_core(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_new_array);
  lua_setfield(L, -2, "new_array");
  lsc_lanes_open(L);
  lsc_checks_open(L);
  lsc_engine_open(L);
  lsc_decoder_open(L);
  lsc_request_open(L);
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  return 1;
}
