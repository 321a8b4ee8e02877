/*
** fuzz_decoder.c: libFuzzer target for the decoder, without Lua.
**
** Feeds each input twice, whole and cut into pieces at places chosen from
** the input itself, into sinks that fold every event into a digest and
** check that containers balance. The two runs must agree on success, on
** the digest, and on the error message; a crash, a leak, an overflow or a
** disagreement is a finding.
*/
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
  return 0;
}
