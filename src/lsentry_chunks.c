/*
** lsentry_chunks.c: luaopen for sentry.chunks.core, the C part of
** sentry.chunks. Each binding file registers its own functions.
*/
#include "compat.h"
#include "ldecoder.h"
#include "lrequest.h"

#ifdef __GNUC__
__attribute__((visibility("default")))
#endif
int luaopen_sentry_chunks_core(lua_State *L);

int luaopen_sentry_chunks_core(lua_State *L) {
  lua_newtable(L);
  lsc_decoder_open(L);
  lsc_request_open(L);
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  return 1;
}
