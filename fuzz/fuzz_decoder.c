/*
** fuzz_decoder.c: libFuzzer target for the decoder, without Lua.
**
** Feeds each input twice, whole and cut into pieces at places chosen from
** the input itself, into sinks that fold every event into a digest and
** check that containers balance. The two runs must agree on success, on
** the digest, and on the error message; a crash, a leak, an overflow or a
** disagreement is a finding.
**
** Every run of number characters in the input that is a JSON number is
** also decoded on its own and inside "[...]", and must give what strtod
** gives in the "C" locale (strtoll for an integer that fits in 64 bits).
*/
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder.h"

typedef struct probe {
  uint64_t digest;
  long depth;
  long values_at_top;
} probe;

static void mix(probe *p, uint64_t v) {
  p->digest = (p->digest ^ v) * 1099511628211ull;
}

static void mix_bytes(probe *p, const char *s, size_t n) {
  size_t i;
  mix(p, n);
  for (i = 0; i < n; i++) mix(p, (unsigned char)s[i]);
}

static void value_done(probe *p) {
  if (p->depth == 0) p->values_at_top++;
}

static int on_begin_object(void *ud) { probe *p = ud; mix(p, 1); p->depth++; return 0; }
static int on_begin_array(void *ud) { probe *p = ud; mix(p, 2); p->depth++; return 0; }
static int on_end_object(void *ud) {
  probe *p = ud; mix(p, 3);
  if (--p->depth < 0) abort();
  value_done(p);
  return 0;
}
static int on_end_array(void *ud) {
  probe *p = ud; mix(p, 4);
  if (--p->depth < 0) abort();
  value_done(p);
  return 0;
}
static int on_key(void *ud, const char *s, size_t n) {
  probe *p = ud; mix(p, 5); mix_bytes(p, s, n); return 0;
}
static int on_string(void *ud, const char *s, size_t n) {
  probe *p = ud; mix(p, 6); mix_bytes(p, s, n); value_done(p); return 0;
}
static int on_integer(void *ud, long long v) {
  probe *p = ud; mix(p, 7); mix(p, (uint64_t)v); value_done(p); return 0;
}
static int on_number(void *ud, double v) {
  probe *p = ud; uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (v != v) bits = 0x7ff8000000000000ull; /* every NaN alike */
  mix(p, 8); mix(p, bits); value_done(p); return 0;
}
static int on_literal(void *ud, sc_literal v) {
  probe *p = ud; mix(p, 9); mix(p, (uint64_t)v); value_done(p); return 0;
}

static const sc_sink probe_sink = {
  on_begin_object, on_end_object, on_begin_array, on_end_array,
  on_key, on_string, on_integer, on_number, on_literal,
};

typedef struct outcome {
  int rc;
  uint64_t digest;
  char err[192];
} outcome;

static outcome run(const uint8_t *data, size_t size, size_t step) {
  sc_decoder d;
  probe p = {14695981039346656037ull, 0, 0};
  outcome o;
  size_t at = 0;
  int rc = SC_OK;
  sc_decoder_init(&d, &probe_sink, &p, 64, 0);
  while (rc == SC_OK && at < size) {
    size_t n = size - at < step ? size - at : step;
    rc = sc_decoder_feed(&d, (const char *)data + at, n);
    at += n;
  }
  if (rc == SC_OK) rc = sc_decoder_finish(&d);
  if (rc == SC_OK && (p.depth != 0 || p.values_at_top != 1)) abort();
  o.rc = rc;
  o.digest = p.digest;
  snprintf(o.err, sizeof o.err, "%s", rc == SC_OK ? "" : sc_decoder_error(&d));
  /* A failed decoder stays failed. */
  if (rc != SC_OK && sc_decoder_feed(&d, "1", 1) != SC_ERR) abort();
  sc_decoder_free(&d);
  return o;
}

/* ---- numbers against strtod ---- */

typedef struct num_probe { int integers, numbers, others; long long i; double v; } num_probe;
static int np_i(void *ud, long long v) { num_probe *p = ud; p->integers++; p->i = v; return 0; }
static int np_d(void *ud, double v) { num_probe *p = ud; p->numbers++; p->v = v; return 0; }
static int np_0(void *ud) { (void)ud; return 0; }
static int np_s(void *ud, const char *s, size_t n) { num_probe *p = ud; (void)s; (void)n; p->others++; return 0; }
static int np_l(void *ud, sc_literal v) { num_probe *p = ud; (void)v; p->others++; return 0; }
static const sc_sink num_sink = {np_0, np_0, np_0, np_0, np_s, np_s, np_i, np_d, np_l};

/* The JSON number grammar, written apart from the decoder's. */
static int is_json_number(const char *s, size_t n) {
  size_t i = 0, k;
  if (i < n && s[i] == '-') i++;
  if (i < n && s[i] == '0') i++;
  else if (i < n && s[i] >= '1' && s[i] <= '9') while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  else return 0;
  if (i < n && s[i] == '.') {
    k = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == k) return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    k = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == k) return 0;
  }
  return i == n;
}

static void check_number(const char *s, size_t n) {
  static locale_t c_locale; /* the fuzzer's own, made once */
  char text[4100];
  int is_int = 1, want_int, wrap;
  long long want_i = 0;
  double want_d;
  size_t i;
  locale_t old;
  if (n + 3 > sizeof text) return;
  if (c_locale == (locale_t)0 && (c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0)) == (locale_t)0) abort();
  text[0] = '[';
  memcpy(text + 1, s, n);
  text[n + 1] = '\0';
  for (i = 0; i < n; i++)
    if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') is_int = 0;
  old = uselocale(c_locale);
  want_d = strtod(text + 1, NULL);
  errno = 0;
  if (is_int) want_i = strtoll(text + 1, NULL, 10);
  want_int = is_int && errno != ERANGE;
  uselocale(old);
  text[n + 1] = ']';
  for (wrap = 0; wrap < 2; wrap++) {
    sc_decoder d;
    num_probe p;
    memset(&p, 0, sizeof p);
    sc_decoder_init(&d, &num_sink, &p, 4, 0);
    if (sc_decoder_feed(&d, wrap ? text : text + 1, wrap ? n + 2 : n) != SC_OK ||
        sc_decoder_finish(&d) != SC_OK) {
      fprintf(stderr, "number %.*s: %s\n", (int)n, s, sc_decoder_error(&d));
      abort();
    }
    sc_decoder_free(&d);
    if (p.others || p.integers + p.numbers != 1) abort();
    if (want_int ? (!p.integers || p.i != want_i)
                 : (!p.numbers || memcmp(&p.v, &want_d, sizeof want_d) != 0)) {
      fprintf(stderr, "number %.*s: want %a, got %a\n", (int)n, s, want_d,
              p.numbers ? p.v : (double)p.i);
      abort();
    }
  }
}

static void check_numbers(const uint8_t *data, size_t size) {
  size_t i = 0;
  while (i < size) {
    size_t j = i;
    while (j < size && strchr("+-.0123456789eE", data[j]) && data[j]) j++;
    if (j > i && is_json_number((const char *)data + i, j - i))
      check_number((const char *)data + i, j - i);
    i = j > i ? j : i + 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  outcome whole = run(data, size, size ? size : 1);
  size_t step = size ? (size_t)(data[0] % 7) + 1 : 1;
  outcome pieces = run(data, size, step);
  if (whole.rc != pieces.rc) abort();
  if (whole.rc == SC_OK && whole.digest != pieces.digest) abort();
  if (whole.rc != SC_OK && strcmp(whole.err, pieces.err) != 0) {
    fprintf(stderr, "whole: %s\npieces: %s\n", whole.err, pieces.err);
    abort();
  }
  check_numbers(data, size);
  return 0;
}
