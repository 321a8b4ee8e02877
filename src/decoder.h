/*
** decoder.h: a resumable JSON (RFC 8259) push parser.
**
** It knows bytes, not Lua: every complete token is reported to a sink, one
** callback per event, in document order. Input may be split anywhere; the
** decoder keeps at most one partial token (a string or number cut by the end
** of a piece) and never a copy of the input. There is no recursion: nesting
** is a byte stack bounded by max_depth.
*/
#ifndef SC_DECODER_H
#define SC_DECODER_H

#include <locale.h> /* locale_t: POSIX.1-2008 */
#include <stddef.h>

typedef enum { SC_LIT_NULL, SC_LIT_FALSE, SC_LIT_TRUE } sc_literal;

/*
** Each callback returns 0 to go on, or non-zero to stop the parse; the
** decoder then fails with the message given to sc_decoder_fail (or a generic
** one). Strings passed to key/string are not NUL-terminated, may contain NUL
** and are only valid during the call.
*/
typedef struct sc_sink {
  int (*begin_object)(void *ud);
  int (*end_object)(void *ud);
  int (*begin_array)(void *ud);
  int (*end_array)(void *ud);
  int (*key)(void *ud, const char *s, size_t n);
  int (*string)(void *ud, const char *s, size_t n);
  int (*integer)(void *ud, long long v);
  int (*number)(void *ud, double v);
  int (*literal)(void *ud, sc_literal v);
} sc_sink;

enum { SC_OK = 0, SC_ERR = -1 };

#define SC_DEFAULT_MAX_DEPTH 1000
#define SC_DEFAULT_MAX_BYTES ((size_t)1 << 30)

/* Fields are private to decoder.c; the struct is public so that callers can
   embed it (in a Lua userdata, on the stack of a fuzzer). */
typedef struct sc_decoder {
  const sc_sink *sink;
  void *ud;
  size_t max_depth, max_bytes;
  /* Position: bytes consumed before the current piece, line bookkeeping. */
  size_t consumed, line, line_start;
  int state, failed, finished;
  /* Container stack: '{' or '[' per open level. */
  unsigned char *nest;
  size_t depth, nest_cap;
  size_t opened_at;   /* offset of the '{' or '[' opened last */
  /* The one partial token: string bytes (unescaped) or number characters. */
  char *tok;
  size_t tok_len, tok_cap;
  int str_is_key;     /* the string being read is an object key */
  int esc;            /* escape sub-state inside a string */
  unsigned esc_code;  /* \u digits read so far */
  int esc_digits;
  unsigned hi_surrogate; /* a \uD800-\uDBFF waiting for its low half */
  int lit_kind, lit_pos; /* true/false/null being matched */
  const char *sink_msg; /* set by sc_decoder_fail: why a sink stopped */
  locale_t c_locale;  /* "C" numeric locale for strtod, made on first use */
  char err[192];
} sc_decoder;

void sc_decoder_init(sc_decoder *d, const sc_sink *sink, void *ud,
                     size_t max_depth, size_t max_bytes);
void sc_decoder_free(sc_decoder *d);

/* Feeds one piece; SC_OK or SC_ERR (message in sc_decoder_error). After an
   error or after finish, every further call fails. */
int sc_decoder_feed(sc_decoder *d, const char *buf, size_t len);

/* Ends the input: SC_OK if exactly one complete value was read. */
int sc_decoder_finish(sc_decoder *d);

const char *sc_decoder_error(const sc_decoder *d);

/* For sinks, before returning non-zero: why the parse stops. msg must be a
   static string; the decoder adds the position. */
void sc_decoder_fail(sc_decoder *d, const char *msg);

/* Total bytes fed so far. */
size_t sc_decoder_bytes(const sc_decoder *d);

/* For a sink in begin_object or begin_array: the offset of that '{' or
   '[' in the whole input. */
size_t sc_decoder_opened_at(const sc_decoder *d);

#endif
