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
  int released;   /* its memory is released (failed, finished or closed):
                     dec and b must not be touched again */
  int busy;       /* a feed or finish is running on it */
  int closed;     /* __close or __gc: every later call says so */
  int oom;        /* it failed for lack of memory */
  const char *unusable; /* why it cannot go on, when dec does not say */
  const char *refused;  /* why the last call was refused (busy, closed) */
} lsc_decoder;

/* Pushes a new decoder userdata. opts_idx: a table of options or 0; fname
   names the Lua function in argument errors; size_hint: the document's
   expected size in bytes (0: unknown), which sizes the string cache. */
lsc_decoder *lsc_decoder_new(lua_State *L, int opts_idx, const char *fname,
                             size_t size_hint);

lsc_decoder *lsc_decoder_check(lua_State *L, int idx);

/* SC_OK, or SC_ERR with lsc_decoder_error set. The userdata must be kept
   alive by the caller (on the Lua stack: a registry reference can be
   dropped by a finalizer during the call). Never raises: the work runs
   under lua_pcall. A closed decoder answers "decoder is closed", one
   already in a call (a finalizer feeding it) "decoder is busy". */
int lsc_decoder_feed(lua_State *L, lsc_decoder *d, const char *s, size_t n);

/* SC_OK with the decoded value pushed, or SC_ERR. */
int lsc_decoder_finish(lua_State *L, lsc_decoder *d);

const char *lsc_decoder_error(const lsc_decoder *d);

/* Whether the last failure was for lack of memory. */
int lsc_decoder_oom(const lsc_decoder *d);

/* Sets the decoder's max_bytes (before the first feed): the request engine
   lifts it to its own limit, which counts the same bytes. */
void lsc_decoder_set_max_bytes(lsc_decoder *d, size_t max_bytes);

/* Sets the document's expected size in bytes (0: unknown), from which the
   first samples are presized when they open: a fetch of an encoded body
   refines it as the body inflates. The string cache keeps its size. */
void lsc_decoder_set_size(lsc_decoder *d, size_t bytes);

/* Sets the samples layout (before the first feed): 1 columns, 0 rows. */
void lsc_decoder_set_columns(lsc_decoder *d, int columns);

/* Reads opts.layout (raw) from the table at opts: 1 for "columns", 0 for
   "rows" or nil; anything else raises, naming fname. */
int lsc_decoder_opt_layout(lua_State *L, int opts, const char *fname);

/* Registers decode, decoder, null and empty_array_mt in the table on top. */
void lsc_decoder_open(lua_State *L);

#endif
