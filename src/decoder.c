/*
** decoder.c: the JSON state machine behind decoder.h.
**
** Invariants:
** - d->state says what the next byte may be; every byte of a piece is
**   consumed by exactly one state transition, so a piece may end anywhere.
** - A string or number that lies wholly inside the current piece is handed
**   to the sink straight from the input; only one cut by the end of a piece,
**   or a string with escapes, is gathered in d->tok.
** - d->nest[0 .. depth-1] are the open containers; depth <= max_depth.
*/
#include "decoder.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pow5_table.h"

enum {
  ST_VALUE,        /* a value: start of text, after ':', after ',' in [] */
  ST_ARRAY_FIRST,  /* after '[': a value or ']' */
  ST_OBJECT_FIRST, /* after '{': a key or '}' */
  ST_KEY,          /* after ',' in {}: a key */
  ST_COLON,        /* after a key */
  ST_AFTER_VALUE,  /* after a value in a container: ',' or its closer */
  ST_DONE,         /* after the top-level value: whitespace only */
  ST_STRING,       /* inside a string; bytes so far in tok */
  ST_NUMBER,       /* inside a number; characters so far in tok */
  ST_LITERAL       /* inside true, false or null */
};

/* Escape sub-states inside ST_STRING. */
enum { ESC_NONE, ESC_BACKSLASH, ESC_HEX, ESC_LOW_BACKSLASH, ESC_LOW_U };

/* Byte classes. */
#define C_WS 1     /* JSON whitespace */
#define C_PLAIN 2  /* may stand unescaped in a string, not '"' or '\\' */
#define C_NUM 4    /* may appear in a number token */

static const unsigned char byte_class[256] = {
#define W C_WS
#define P C_PLAIN
#define N (C_PLAIN | C_NUM)
  /* 0x00-0x1f: control characters, never plain; tab, LF, CR are ws */
  0, 0, 0, 0, 0, 0, 0, 0, 0, W, W, 0, 0, W, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  /* 0x20 ' ' is ws and plain; '"' 0x22 not plain; '+' '-' '.' digits num */
  W | P, P, 0, P, P, P, P, P, P, P, P, N, P, N, N, P,
  N, N, N, N, N, N, N, N, N, N, P, P, P, P, P, P,
  P, P, P, P, P, N, P, P, P, P, P, P, P, P, P, P, /* 'E' 0x45 */
  P, P, P, P, P, P, P, P, P, P, P, P, 0, P, P, P, /* '\\' 0x5c */
  P, P, P, P, P, N, P, P, P, P, P, P, P, P, P, P, /* 'e' 0x65 */
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
  /* 0x80-0xff: bytes of UTF-8 sequences pass through unchecked */
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
  P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
#undef W
#undef P
#undef N
};

static const char *const literal_text[3] = {"null", "false", "true"};
static const int literal_len[3] = {4, 5, 4};

void sc_decoder_init(sc_decoder *d, const sc_sink *sink, void *ud,
                     size_t max_depth, size_t max_bytes) {
  memset(d, 0, sizeof *d);
  d->sink = sink;
  d->ud = ud;
  d->max_depth = max_depth ? max_depth : SC_DEFAULT_MAX_DEPTH;
  d->max_bytes = max_bytes ? max_bytes : SC_DEFAULT_MAX_BYTES;
  d->line = 1;
  d->state = ST_VALUE;
  d->c_locale = (locale_t)0;
}

void sc_decoder_free(sc_decoder *d) {
  free(d->nest);
  free(d->tok);
  if (d->c_locale != (locale_t)0) freelocale(d->c_locale);
  d->c_locale = (locale_t)0;
  d->nest = NULL;
  d->tok = NULL;
  d->nest_cap = d->tok_cap = 0;
}

const char *sc_decoder_error(const sc_decoder *d) {
  return d->failed ? d->err : NULL;
}

void sc_decoder_fail(sc_decoder *d, const char *msg) { d->sink_msg = msg; }

size_t sc_decoder_bytes(const sc_decoder *d) { return d->consumed; }

size_t sc_decoder_opened_at(const sc_decoder *d) { return d->opened_at; }

/* ---- errors: what went wrong, and where (1-based byte, line, column) ---- */

static int fail_at(sc_decoder *d, size_t offset, const char *what) {
  size_t col = offset >= d->line_start ? offset - d->line_start + 1 : 1;
  snprintf(d->err, sizeof d->err, "%s at byte %zu (line %zu, column %zu)",
           what, offset + 1, d->line, col);
  d->failed = 1;
  return SC_ERR;
}

static int fail_byte(sc_decoder *d, size_t offset, unsigned char c,
                     const char *context) {
  char what[96];
  if (c >= 0x20 && c < 0x7f)
    snprintf(what, sizeof what, "unexpected '%c'%s", c, context);
  else
    snprintf(what, sizeof what, "unexpected byte 0x%02x%s", c, context);
  return fail_at(d, offset, what);
}

static int fail_sink(sc_decoder *d, size_t offset) {
  return fail_at(d, offset, d->sink_msg ? d->sink_msg : "stopped by the sink");
}

/* ---- the partial token ---- */

static int tok_reserve(sc_decoder *d, size_t extra) {
  size_t need = d->tok_len + extra, cap;
  char *p;
  if (need <= d->tok_cap) return 1;
  cap = d->tok_cap ? d->tok_cap : 64;
  while (cap < need) cap *= 2;
  p = realloc(d->tok, cap);
  if (p == NULL) return 0;
  d->tok = p;
  d->tok_cap = cap;
  return 1;
}

static int tok_append(sc_decoder *d, const char *s, size_t n) {
  if (!tok_reserve(d, n)) return 0;
  memcpy(d->tok + d->tok_len, s, n);
  d->tok_len += n;
  return 1;
}

/* Appends code point cp as UTF-8. */
static int tok_utf8(sc_decoder *d, unsigned cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) { b[0] = (char)cp; n = 1; }
  else if (cp < 0x800) {
    b[0] = (char)(0xc0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3f)); n = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xe0 | (cp >> 12)); b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
  } else {
    b[0] = (char)(0xf0 | (cp >> 18)); b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); b[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  return tok_append(d, b, n);
}

/* ---- numbers ---- */

/*
** A number becomes a double in one of three ways, fastest first:
** - Clinger: a significand of at most 15 digits (under 2^53) times an
**   exact power of ten (|exp10| <= 22) is one correctly rounded operation.
** - Eisel-Lemire (Lemire, "Number Parsing at a Gigabyte per Second", 2021;
**   the technique of the fast_float library): a significand of at most 19
**   digits, any exponent; a 64x128-bit product with a table of 5^q decides
**   the rounding. Longer significands are truncated to 19 digits and tried
**   as w and w + 1: if both round the same way, that is the answer.
** - strtod in the "C" locale (uselocale with a per-decoder locale object),
**   whatever LC_NUMERIC the host set, for what the fast paths cannot decide.
** fuzz/numcheck.c compares all of them with strtod on millions of inputs.
*/

#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)

/* Exponents are gathered saturating at this bound: past it the value is 0
   or infinity whatever the digits, since no input is this long. */
#define EXP_CAP 1000000000000000LL

typedef struct { uint64_t hi, lo; } u128p;

/* The full 128-bit product of two 64-bit numbers. SC_NO_INT128 forces the
   portable path (fuzz/numcheck.c tests both). */
static u128p mul_64x64(uint64_t a, uint64_t b) {
  u128p r;
#if defined(__SIZEOF_INT128__) && !defined(SC_NO_INT128)
  __extension__ typedef unsigned __int128 u128;
  u128 p = (u128)a * b;
  r.hi = (uint64_t)(p >> 64);
  r.lo = (uint64_t)p;
#else
  uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
  uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
  r.lo = (mid << 32) | (ll & 0xffffffffu);
  r.hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
#endif
  return r;
}

static int leading_zeros64(uint64_t x) { /* x != 0 */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(SC_NO_INT128)
  return __builtin_clzll(x);
#else
  int n = 0;
  while (!(x & 0x8000000000000000ull)) { x <<= 1; n++; }
  return n;
#endif
}

/* floor(q * log2(10)) + 63 for |q| <= 400, without shifting a negative. */
static int pow10_to_pow2(int q) {
  int32_t x = (int32_t)q * 217706;
  return (x >= 0 ? x / 65536 : -((-x + 65535) / 65536)) + 63;
}

/*
** Eisel-Lemire: the bits of the double nearest to w * 10^q (w < 2^64, not
** negative). Returns 1 with *bits set, or 0 when the 128-bit product cannot
** decide (then the caller asks strtod).
*/
static inline int eisel_lemire(uint64_t w, int64_t q, uint64_t *bits) {
  u128p prod;
  uint64_t mant;
  int lz, upper, shift, idx;
  int64_t p2;
  if (w == 0 || q < SC_POW5_MIN) { *bits = 0; return 1; }
  if (q > SC_POW5_MAX) { *bits = 0x7ff0000000000000ull; return 1; }
  lz = leading_zeros64(w);
  w <<= lz;
  idx = 2 * (int)(q - SC_POW5_MIN);
  prod = mul_64x64(w, sc_pow5_128[idx]);
  if ((prod.hi & 0x1ff) == 0x1ff) { /* the low bits matter: refine */
    u128p second = mul_64x64(w, sc_pow5_128[idx + 1]);
    prod.lo += second.hi;
    if (second.hi > prod.lo) prod.hi++;
    /* Outside these exponents the 128-bit table entry is itself inexact;
       proven sufficient since (Mushtak and Lemire, 2023), but cheap to be
       careful about. */
    if (prod.lo == UINT64_MAX && (q < -27 || q > 55)) return 0;
  }
  upper = (int)(prod.hi >> 63);
  shift = upper + 64 - 52 - 3;
  mant = prod.hi >> shift;
  p2 = (int64_t)pow10_to_pow2((int)q) + upper - lz + 1023;
  if (p2 <= 0) { /* subnormal, or rounds up to the smallest normal */
    if (-p2 + 1 >= 64) { *bits = 0; return 1; }
    mant >>= -p2 + 1;
    mant += mant & 1;
    mant >>= 1;
    p2 = mant < ((uint64_t)1 << 52) ? 0 : 1;
    *bits = mant | ((uint64_t)p2 << 52);
    return 1;
  }
  /* A tie (exactly halfway) rounds to even: only possible for small q. */
  if (prod.lo <= 1 && q >= -4 && q <= 23 && (mant & 3) == 1 &&
      (mant << shift) == prod.hi)
    mant &= ~(uint64_t)1;
  mant += mant & 1;
  mant >>= 1;
  if (mant >= ((uint64_t)2 << 52)) { mant = (uint64_t)1 << 52; p2++; }
  mant &= ~((uint64_t)1 << 52);
  if (p2 >= 0x7ff) { p2 = 0x7ff; mant = 0; }
  *bits = mant | ((uint64_t)p2 << 52);
  return 1;
}

static double from_bits(uint64_t bits, int neg) {
  double v;
  if (neg) bits |= 0x8000000000000000ull;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* The double nearest to (-1)^neg * m * 10^exp10, m exact, of ndig digits
   (at most 19). Returns 0 when only strtod can decide. Clinger's path only
   up to 15 digits: it is faster for short numbers, but Python's and Java's
   timestamps have 16 or 17 digits, and a choice that flips between the two
   paths from one number to the next costs more than it saves. */
static inline int exact_double(uint64_t m, int ndig, int64_t exp10, int neg, double *out) {
  uint64_t bits;
#if FLT_EVAL_METHOD == 0 /* double operations round once, to double */
  static const double exact_pow10[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  if (ndig <= 15 && exp10 >= -22 && exp10 <= 22) { /* m < 10^15 < 2^53 */
    double v = (double)m;
    v = exp10 < 0 ? v / exact_pow10[-exp10] : v * exact_pow10[exp10];
    *out = neg ? -v : v;
    return 1;
  }
#else
  (void)ndig;
#endif
  if (!eisel_lemire(m, exp10, &bits)) return 0;
  *out = from_bits(bits, neg);
  return 1;
}

/* strtod with '.' as the decimal point whatever the locale: the "C" locale
   object is made on first use and kept by the decoder. Returns 0 when out
   of memory. */
static int strtod_c(sc_decoder *d, const char *s, size_t n, double *out) {
  char small[128], *buf;
  locale_t old;
  if (d->c_locale == (locale_t)0) {
    d->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (d->c_locale == (locale_t)0) return 0;
  }
  buf = n < sizeof small ? small : malloc(n + 1);
  if (buf == NULL) return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  old = uselocale(d->c_locale);
  if (old != (locale_t)0) {
    *out = strtod(buf, NULL);
    uselocale(old);
  }
  if (buf != small) free(buf);
  return old != (locale_t)0;
}

/*
** Validates the grammar -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? and
** reports an integer when the text has no fraction or exponent and fits in
** 64 bits; otherwise the correctly rounded double.
*/
static int emit_number(sc_decoder *d, const char *s, size_t n, size_t offset) {
  const char *p = s, *e = s + n;
  uint64_t m = 0;
  int64_t exp10 = 0;
  int neg = 0, digits = 0, dropped = 0, is_int = 1;
  double v;
  if (p < e && *p == '-') { neg = 1; p++; }
  if (p == e) goto bad;
  if (*p == '0') {
    p++;
    if (p < e && IS_DIGIT(*p)) goto bad; /* leading zero */
  } else if (IS_DIGIT(*p)) {
    for (; p < e && IS_DIGIT(*p); p++) {
      if (digits < 19) { m = m * 10 + (uint64_t)(*p - '0'); digits++; }
      else {
        if (exp10 < EXP_CAP) exp10++;
        if (*p != '0') dropped = 1;
      }
    }
  } else goto bad;
  if (p < e && *p == '.') {
    is_int = 0;
    p++;
    if (p == e || !IS_DIGIT(*p)) goto bad;
    for (; p < e && IS_DIGIT(*p); p++) {
      if (m == 0 && *p == '0') { /* leading zeros */
        if (exp10 > -EXP_CAP) exp10--;
        continue;
      }
      if (digits < 19) { m = m * 10 + (uint64_t)(*p - '0'); digits++; exp10--; }
      else if (*p != '0') dropped = 1;
    }
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    int eneg = 0;
    int64_t ev = 0;
    is_int = 0;
    p++;
    if (p < e && (*p == '+' || *p == '-')) { eneg = *p == '-'; p++; }
    if (p == e || !IS_DIGIT(*p)) goto bad;
    for (; p < e && IS_DIGIT(*p); p++)
      if (ev < EXP_CAP) ev = ev * 10 + (*p - '0');
    exp10 += eneg ? -ev : ev;
  }
  if (p != e) goto bad;
  if (is_int && exp10 == 0 && !dropped) {
    if (!neg && m <= (uint64_t)INT64_MAX)
      return d->sink->integer(d->ud, (long long)m);
    if (neg && m <= (uint64_t)INT64_MAX + 1)
      return d->sink->integer(d->ud, m == (uint64_t)INT64_MAX + 1
                                         ? INT64_MIN : -(long long)m);
  }
  if (!dropped) {
    if (exact_double(m, digits, exp10, neg, &v)) return d->sink->number(d->ud, v);
  } else {
    /* The digits after the 19th only push the value above m * 10^exp10,
       never to (m + 1) * 10^exp10: if both round alike, so does the text. */
    uint64_t lo, hi;
    if (eisel_lemire(m, exp10, &lo) && eisel_lemire(m + 1, exp10, &hi) && lo == hi)
      return d->sink->number(d->ud, from_bits(lo, neg));
  }
  if (strtod_c(d, s, n, &v)) return d->sink->number(d->ud, v);
  d->sink_msg = NULL;
  fail_at(d, offset, "out of memory");
  return 1;
bad:
  d->sink_msg = NULL;
  {
    char what[96];
    snprintf(what, sizeof what, "invalid number '%.*s'", n > 40 ? 40 : (int)n, s);
    fail_at(d, offset, what);
  }
  return 1;
}

/*
** The common shapes in one pass: -?digits(.digits)?([eE][+-]?digits)? with
** at most 19 digits (18 for an integer), ending inside this piece. Returns 1
** when the number was emitted (*pp moves past it), 0 to leave it to the
** general path (long or malformed numbers, a number cut by the piece's end,
** a value only strtod can decide), or -1 when the sink stopped.
*/
static int fast_number(sc_decoder *d, const unsigned char **pp,
                       const unsigned char *end) {
  const unsigned char *q = *pp, *digits;
  uint64_t m = 0;
  int64_t exp10 = 0;
  int neg = 0, rc;
  ptrdiff_t nint, frac = 0;
  if (*q == '-') { neg = 1; q++; }
  digits = q;
  while (q < end && IS_DIGIT(*q)) m = m * 10 + (uint64_t)(*q++ - '0');
  nint = q - digits;
  if (nint == 0 || (*digits == '0' && nint > 1)) return 0;
  if (q < end && *q == '.') {
    const unsigned char *f = ++q;
    while (q < end && IS_DIGIT(*q)) m = m * 10 + (uint64_t)(*q++ - '0');
    frac = q - f;
    if (frac == 0) return 0;
  }
  if (q < end && (*q == 'e' || *q == 'E')) {
    const unsigned char *x;
    int eneg = 0;
    if (++q < end && (*q == '+' || *q == '-')) { eneg = *q == '-'; q++; }
    x = q;
    while (q < end && IS_DIGIT(*q)) {
      if (exp10 < EXP_CAP) exp10 = exp10 * 10 + (*q - '0');
      q++;
    }
    if (q == x) return 0;
    if (eneg) exp10 = -exp10;
  } else if (frac == 0) { /* an integer */
    if (q == end || (byte_class[*q] & C_NUM)) return 0;
    if (nint > 18) return 0; /* m may have wrapped */
    rc = d->sink->integer(d->ud, neg ? -(long long)m : (long long)m);
    *pp = q;
    return rc ? -1 : 1;
  }
  if (q == end || (byte_class[*q] & C_NUM)) return 0;
  if (nint + frac > 19) return 0; /* m may have wrapped */
  {
    double v;
    if (!exact_double(m, (int)(nint + frac), exp10 - frac, neg, &v)) return 0;
    rc = d->sink->number(d->ud, v);
  }
  *pp = q;
  return rc ? -1 : 1;
}

/* ---- nesting ---- */

static int push_container(sc_decoder *d, unsigned char kind, size_t offset) {
  if (d->depth >= d->max_depth) {
    char what[64];
    snprintf(what, sizeof what, "nesting deeper than %zu", d->max_depth);
    return fail_at(d, offset, what);
  }
  if (d->depth == d->nest_cap) {
    size_t cap = d->nest_cap ? d->nest_cap * 2 : 32;
    unsigned char *p;
    if (cap > d->max_depth) cap = d->max_depth;
    p = realloc(d->nest, cap);
    if (p == NULL) return fail_at(d, offset, "out of memory");
    d->nest = p;
    d->nest_cap = cap;
  }
  d->nest[d->depth++] = kind;
  d->opened_at = offset;
  return SC_OK;
}

/* ---- the parse ---- */

#define AFTER_VALUE(d) ((d)->depth ? ST_AFTER_VALUE : ST_DONE)

/* A string is complete: hand it to the sink as a key or a value. */
static int emit_string(sc_decoder *d, const char *s, size_t n) {
  if (d->str_is_key) {
    d->state = ST_COLON;
    return d->sink->key(d->ud, s, n);
  }
  d->state = AFTER_VALUE(d);
  return d->sink->string(d->ud, s, n);
}

static int hex_value(unsigned char c) {
  if (IS_DIGIT(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/*
** Reads string bytes from *pp (inside a string, in tok mode) until the
** closing quote or the end of the piece. Returns SC_OK, SC_ERR, or 1 when
** the sink stopped.
*/
static int read_string(sc_decoder *d, const unsigned char **pp,
                       const unsigned char *end, const unsigned char *base) {
  const unsigned char *p = *pp;
  while (p < end) {
    if (d->esc == ESC_NONE) {
      const unsigned char *run = p;
      while (p < end && (byte_class[*p] & C_PLAIN)) p++;
      if (p > run && !tok_append(d, (const char *)run, (size_t)(p - run)))
        return fail_at(d, d->consumed + (size_t)(p - base), "out of memory");
      if (p == end) break;
      if (*p == '"') {
        int rc;
        p++;
        *pp = p;
        rc = emit_string(d, d->tok, d->tok_len);
        d->tok_len = 0;
        return rc ? 1 : SC_OK;
      }
      if (*p == '\\') { d->esc = ESC_BACKSLASH; p++; continue; }
      return fail_byte(d, d->consumed + (size_t)(p - base), *p,
                       " (control character in string)");
    }
    {
      unsigned char c = *p;
      size_t at = d->consumed + (size_t)(p - base);
      int ok = 1;
      switch (d->esc) {
      case ESC_BACKSLASH: {
        char out = 0;
        switch (c) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u':
          d->esc = ESC_HEX; d->esc_code = 0; d->esc_digits = 0;
          p++;
          continue;
        default:
          return fail_byte(d, at, c, " (invalid escape)");
        }
        ok = tok_append(d, &out, 1);
        d->esc = ESC_NONE;
        break;
      }
      case ESC_HEX: {
        int h = hex_value(c);
        if (h < 0) return fail_byte(d, at, c, " (invalid \\u escape)");
        d->esc_code = d->esc_code * 16 + (unsigned)h;
        if (++d->esc_digits < 4) break;
        d->esc = ESC_NONE;
        if (d->hi_surrogate) {
          unsigned hi = d->hi_surrogate;
          d->hi_surrogate = 0;
          if (d->esc_code < 0xdc00 || d->esc_code > 0xdfff)
            return fail_at(d, at, "unpaired surrogate in \\u escape");
          ok = tok_utf8(d, 0x10000 + ((hi - 0xd800) << 10) + (d->esc_code - 0xdc00));
        } else if (d->esc_code >= 0xd800 && d->esc_code <= 0xdbff) {
          d->hi_surrogate = d->esc_code;
          d->esc = ESC_LOW_BACKSLASH;
        } else if (d->esc_code >= 0xdc00 && d->esc_code <= 0xdfff) {
          return fail_at(d, at, "unpaired surrogate in \\u escape");
        } else {
          ok = tok_utf8(d, d->esc_code);
        }
        break;
      }
      case ESC_LOW_BACKSLASH:
        if (c != '\\') return fail_at(d, at, "unpaired surrogate in \\u escape");
        d->esc = ESC_LOW_U;
        break;
      case ESC_LOW_U:
        if (c != 'u') return fail_at(d, at, "unpaired surrogate in \\u escape");
        d->esc = ESC_HEX; d->esc_code = 0; d->esc_digits = 0;
        break;
      }
      if (!ok) return fail_at(d, at, "out of memory");
      p++;
    }
  }
  *pp = p;
  return SC_OK;
}

/* Scans plain string bytes from q; returns the first byte that is '"',
   '\\', a control character, or end. Eight bytes at a time where it can. */
static const unsigned char *scan_plain(const unsigned char *q,
                                       const unsigned char *end) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  while (end - q >= 8) {
    uint64_t v, quote, slash, ctrl;
    memcpy(&v, q, 8);
    quote = v ^ (ones * '"');
    slash = v ^ (ones * '\\');
    /* high bit set in a byte that is zero (quote, slash) or below 0x20 */
    quote = (quote - ones) & ~quote;
    slash = (slash - ones) & ~slash;
    ctrl = (v - ones * 0x20) & ~v;
    if ((quote | slash | ctrl) & highs) break;
    q += 8;
  }
  while (q < end && (byte_class[*q] & C_PLAIN)) q++;
  return q;
}

#define SKIP_WS()                                                          \
  while (p < end && (byte_class[*p] & C_WS)) {                             \
    if (*p == '\n') { d->line++; d->line_start = AT(p) + 1; }              \
    p++;                                                                   \
  }

/* Leaves the piece with the parse waiting in state st. */
#define SUSPEND(st) do { d->state = (st); goto suspended; } while (0)

/*
** The hot path runs from label to label (value, after_value, key, colon)
** without touching d->state; d->state is written only when the piece ends
** between tokens, or when a token is cut by the end of the piece or needs
** the byte-by-byte path (escapes), which `resume` dispatches on.
*/
int sc_decoder_feed(sc_decoder *d, const char *buf, size_t len) {
  const unsigned char *base = (const unsigned char *)buf;
  const unsigned char *p = base, *end = base + len;
  const sc_sink *k = d->sink;
  unsigned char c;
  /* Offsets of the byte at p, for messages. */
#define AT(q) (d->consumed + (size_t)((q) - base))
#define SINK(call, q) do { if (call) return fail_sink(d, AT(q)); } while (0)

  if (d->failed) return SC_ERR;
  if (d->finished) {
    snprintf(d->err, sizeof d->err, "decoder already finished");
    d->failed = 1;
    return SC_ERR;
  }
  if (len > d->max_bytes - d->consumed) {
    char what[80];
    snprintf(what, sizeof what, "input larger than max_bytes (%zu)", d->max_bytes);
    return fail_at(d, d->max_bytes, what);
  }

resume:
  switch (d->state) {
  case ST_VALUE: goto value;
  case ST_ARRAY_FIRST: goto array_first;
  case ST_OBJECT_FIRST: goto object_first;
  case ST_KEY: goto key;
  case ST_COLON: goto colon;
  case ST_AFTER_VALUE: goto after_value;
  case ST_DONE: goto done;
  case ST_STRING: {
    int rc = read_string(d, &p, end, base);
    if (rc == SC_ERR) return SC_ERR;
    if (rc) return fail_sink(d, AT(p));
    if (p == end && d->state == ST_STRING) goto suspended;
    goto resume;
  }
  case ST_NUMBER: {
    const unsigned char *run = p;
    while (p < end && (byte_class[*p] & C_NUM)) p++;
    if (p > run && !tok_append(d, (const char *)run, (size_t)(p - run)))
      return fail_at(d, AT(p), "out of memory");
    if (p == end) goto suspended;
    d->state = AFTER_VALUE(d);
    if (emit_number(d, d->tok, d->tok_len, AT(p) - d->tok_len)) {
      d->tok_len = 0;
      return d->failed ? SC_ERR : fail_sink(d, AT(p));
    }
    d->tok_len = 0;
    goto resume;
  }
  case ST_LITERAL: {
    const char *lit = literal_text[d->lit_kind];
    while (p < end && d->lit_pos < literal_len[d->lit_kind]) {
      if (*p != (unsigned char)lit[d->lit_pos]) return fail_byte(d, AT(p), *p, "");
      p++;
      d->lit_pos++;
    }
    if (d->lit_pos < literal_len[d->lit_kind]) goto suspended;
    SINK(k->literal(d->ud, (sc_literal)d->lit_kind), p);
    goto after_value;
  }
  }

array_first:
  SKIP_WS();
  if (p == end) SUSPEND(ST_ARRAY_FIRST);
  if (*p == ']') goto close_array;
  /* fall through: a value */

value:
  SKIP_WS();
  if (p == end) SUSPEND(ST_VALUE);
  c = *p;
  switch (c) {
  case '{':
    if (push_container(d, '{', AT(p))) return SC_ERR;
    p++;
    SINK(k->begin_object(d->ud), p - 1);
    goto object_first;
  case '[':
    if (push_container(d, '[', AT(p))) return SC_ERR;
    p++;
    SINK(k->begin_array(d->ud), p - 1);
    goto array_first;
  case '"': {
    const unsigned char *q = scan_plain(p + 1, end);
    if (q < end && *q == '"') {
      SINK(k->string(d->ud, (const char *)p + 1, (size_t)(q - p - 1)), q);
      p = q + 1;
      goto after_value;
    }
    d->str_is_key = 0;
    goto slow_string;
  }
  case 't': d->lit_kind = SC_LIT_TRUE; goto literal;
  case 'f': d->lit_kind = SC_LIT_FALSE; goto literal;
  case 'n': d->lit_kind = SC_LIT_NULL; goto literal;
  default:
    if (c == '-' || IS_DIGIT(c)) {
      const unsigned char *q;
      int rc = fast_number(d, &p, end);
      if (rc > 0) goto after_value;
      if (rc < 0) return fail_sink(d, AT(p));
      q = p + 1;
      while (q < end && (byte_class[*q] & C_NUM)) q++;
      if (q == end) { /* cut by the end of the piece: gather it */
        d->tok_len = 0;
        if (!tok_append(d, (const char *)p, (size_t)(q - p)))
          return fail_at(d, AT(p), "out of memory");
        p = q;
        SUSPEND(ST_NUMBER);
      }
      d->state = AFTER_VALUE(d);
      if (emit_number(d, (const char *)p, (size_t)(q - p), AT(p)))
        return d->failed ? SC_ERR : fail_sink(d, AT(p));
      p = q;
      goto after_value;
    }
    return fail_byte(d, AT(p), c, "");
  }

after_value:
  if (d->depth == 0) goto done;
  SKIP_WS();
  if (p == end) SUSPEND(ST_AFTER_VALUE);
  c = *p;
  if (c == ',') {
    p++;
    if (d->nest[d->depth - 1] == '{') goto key;
    d->state = ST_VALUE;
    goto value;
  }
  if (c == '}' && d->nest[d->depth - 1] == '{') goto close_object;
  if (c == ']' && d->nest[d->depth - 1] == '[') goto close_array;
  return fail_byte(d, AT(p), c,
                   d->nest[d->depth - 1] == '{' ? " (expected ',' or '}')"
                                                 : " (expected ',' or ']')");

object_first:
  SKIP_WS();
  if (p == end) SUSPEND(ST_OBJECT_FIRST);
  if (*p == '}') goto close_object;
  /* fall through: a key */

key:
  SKIP_WS();
  if (p == end) SUSPEND(ST_KEY);
  if (*p != '"') return fail_byte(d, AT(p), *p, " (expected a string key)");
  {
    const unsigned char *q = scan_plain(p + 1, end);
    if (q < end && *q == '"') {
      SINK(k->key(d->ud, (const char *)p + 1, (size_t)(q - p - 1)), q);
      p = q + 1;
      goto colon;
    }
    d->str_is_key = 1;
    goto slow_string;
  }

colon:
  SKIP_WS();
  if (p == end) SUSPEND(ST_COLON);
  if (*p != ':') return fail_byte(d, AT(p), *p, " (expected ':')");
  p++;
  goto value;

close_object:
  d->depth--;
  p++;
  SINK(k->end_object(d->ud), p - 1);
  goto after_value;

close_array:
  d->depth--;
  p++;
  SINK(k->end_array(d->ud), p - 1);
  goto after_value;

done:
  SKIP_WS();
  if (p < end) return fail_byte(d, AT(p), *p, " after the end of the value");
  SUSPEND(ST_DONE);

literal:
  d->lit_pos = 0;
  d->state = ST_LITERAL;
  goto resume;

slow_string: /* escapes, or cut by the end of the piece: byte by byte */
  d->state = ST_STRING;
  d->esc = ESC_NONE;
  d->hi_surrogate = 0;
  d->tok_len = 0;
  p++;
  goto resume;

suspended:
  d->consumed += len;
  return SC_OK;
#undef AT
#undef SINK
}

int sc_decoder_finish(sc_decoder *d) {
  if (d->failed) return SC_ERR;
  if (d->finished) {
    snprintf(d->err, sizeof d->err, "decoder already finished");
    d->failed = 1;
    return SC_ERR;
  }
  d->finished = 1;
  if (d->state == ST_NUMBER && d->depth == 0) {
    d->state = ST_DONE;
    if (emit_number(d, d->tok, d->tok_len, d->consumed - d->tok_len)) {
      d->tok_len = 0;
      return d->failed ? SC_ERR : fail_sink(d, d->consumed);
    }
    d->tok_len = 0;
  }
  if (d->state != ST_DONE) {
    fail_at(d, d->consumed,
            d->consumed == 0 ? "empty input" : "unexpected end of input");
    return SC_ERR;
  }
  return SC_OK;
}
