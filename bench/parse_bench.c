/*
** parse_bench.c: the decoder alone, with a sink that only counts events:
** what parsing costs before any Lua table is built. `make bench` prints it
** beside the Lua figures, to show where the rest of the time goes.
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "decoder.h"

static long events;
static int count0(void *ud) { (void)ud; events++; return 0; }
static int count_s(void *ud, const char *s, size_t n) { (void)ud; (void)s; (void)n; events++; return 0; }
static int count_i(void *ud, long long v) { (void)ud; (void)v; events++; return 0; }
static int count_d(void *ud, double v) { (void)ud; (void)v; events++; return 0; }
static int count_l(void *ud, sc_literal v) { (void)ud; (void)v; events++; return 0; }
static const sc_sink counting = {count0, count0, count0, count0, count_s, count_s, count_i, count_d, count_l};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  FILE *f;
  char *buf;
  long size;
  double best = 1e9;
  int i;
  if (argc < 2 || (f = fopen(argv[1], "rb")) == NULL) {
    fprintf(stderr, "usage: parse_bench FILE\n");
    return 2;
  }
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)size);
  if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) return 2;
  fclose(f);
  /* Best of at least 5 runs and of about a second's worth: the real
     profiles parse in a few milliseconds. */
  for (i = 0; i < 5 || (i < 2000 && (i + 1) * best < 1.0); i++) {
    sc_decoder d;
    double t0 = now(), t;
    events = 0;
    sc_decoder_init(&d, &counting, NULL, 0, 0);
    if (sc_decoder_feed(&d, buf, (size_t)size) || sc_decoder_finish(&d)) {
      fprintf(stderr, "%s\n", sc_decoder_error(&d));
      return 1;
    }
    sc_decoder_free(&d);
    t = now() - t0;
    if (t < best) best = t;
  }
  printf("  %-22s %7.4f s %8.1f MB/s  (%ld events, best of %d runs, no Lua)\n",
         "parse only (C)", best, size / 1e6 / best, events, i);
  free(buf);
  return 0;
}
