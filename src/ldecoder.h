/*
** ldecoder.h: the decoder as a Lua userdata, for the module's bindings and
** for the request binding, which feeds a response body into one directly.
*/
#ifndef SC_LDECODER_H
#define SC_LDECODER_H

#include "builder.h"
#include "compat.h"
#include "decoder.h"

#define SC_DECODER_MT "sentry.chunks.decoder"
#define SC_EMPTY_ARRAY_MT "sentry.chunks.empty_array_mt"

typedef struct lsc_decoder {
  sc_decoder dec;
  sc_builder b;
  int thread_ref; /* registry ref of the thread parking the builder's slots */
  int parked;     /* how many slots are parked there */
  int has_value;  /* finish produced the value (once) */
  const char *unusable;
} lsc_decoder;

/* Pushes a new decoder userdata. opts_idx: a table of options or 0; fname
   names the Lua function in argument errors. */
lsc_decoder *lsc_decoder_new(lua_State *L, int opts_idx, const char *fname);

lsc_decoder *lsc_decoder_check(lua_State *L, int idx);

/* SC_OK, or SC_ERR with lsc_decoder_error set. The userdata must be kept
   alive by the caller. Never raises: the work runs under lua_pcall. */
int lsc_decoder_feed(lua_State *L, lsc_decoder *d, const char *s, size_t n);

/* SC_OK with the decoded value pushed, or SC_ERR. */
int lsc_decoder_finish(lua_State *L, lsc_decoder *d);

const char *lsc_decoder_error(const lsc_decoder *d);

/* Registers decode, decoder, null and empty_array_mt in the table on top. */
void lsc_decoder_open(lua_State *L);

#endif
