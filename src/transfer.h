/*
** transfer.h: libcurl transfers, driven one step at a time. Knows curl and
** bytes, nothing of Lua.
**
** A sc_multi wraps one CURLM (one per client: its connection cache is what
** makes later fetches reuse connections). A sc_transfer wraps one easy
** handle and a small bounded buffer. libcurl's callbacks only copy: headers
** into a growable header block (capped), body bytes into the buffer; when the
** buffer cannot take a piece the write callback returns CURL_WRITEFUNC_PAUSE.
** The caller (lrequest.c) then, outside libcurl:
**
**     sc_multi_perform(m)            -- progress every transfer of m
**     sc_transfer_data(t, &n)        -- the bytes buffered for t (at most
**                                       the buffer size: one step's worth)
**     ... feed them somewhere ...
**     sc_transfer_consume(t, n)      -- drop them; once the buffer is
**                                       empty, resume t if paused
**     sc_multi_poll(m, t, ms)        -- wait for sockets (returns at once
**                                       while t has bytes buffered)
**
** until sc_transfer_done(t) and the buffer is empty. Lifetimes are
** independent: freeing the multi detaches its transfers (they become done
** with SC_FAIL_DETACHED); freeing a transfer removes it from its multi.
*/
#ifndef SC_TRANSFER_H
#define SC_TRANSFER_H

#include <stddef.h>
#include <curl/curl.h>

typedef struct sc_multi sc_multi;
typedef struct sc_transfer sc_transfer;

/* Why a transfer stopped early, besides libcurl's own CURLcode. */
enum {
  SC_FAIL_NONE = 0,
  SC_FAIL_TOO_LARGE,   /* the body went past max_bytes */
  SC_FAIL_ABORTED,     /* sc_transfer_abort (decoder error, cancel) */
  SC_FAIL_DETACHED,    /* its multi was freed first */
  SC_FAIL_HEADERS,     /* the header block went past its cap */
  SC_FAIL_STALLED      /* under low_speed_limit B/s for low_speed_ms */
};

typedef struct sc_transfer_opts {
  const char *url;
  const char *token;        /* bearer token or NULL; never copied elsewhere */
  const char *ca_file;      /* NULL: the system's store */
  const char *user_agent;   /* NULL: a default */
  long timeout_ms;          /* whole transfer; 0: none */
  long connect_timeout_ms;
  double low_speed_limit;   /* bytes/s ... */
  long low_speed_ms;        /* ... for this long: a stall; 0: off. Checked
                               here (libcurl's own check is a 5 s average:
                               it noticed a stall ~6 s late) */
  long long max_bytes;      /* body bytes (decoded, as libcurl hands them
                               over); 0: no limit */
  size_t buffer_size;       /* the bounded buffer; 0: SC_TRANSFER_BUFFER */
} sc_transfer_opts;

#define SC_TRANSFER_BUFFER (1024 * 1024)
#define SC_READ_SIZE (16 * 1024) /* CURLOPT_BUFFERSIZE at most */
#define SC_HEADER_CAP (64 * 1024)

/* NULL on failure (message in err). */
sc_multi *sc_multi_new(char *err, size_t errlen);
void sc_multi_free(sc_multi *m);
/* Runs curl_multi_perform once and marks finished transfers done.
   Returns 0, or -1 with a message in err. */
int sc_multi_perform(sc_multi *m, char *err, size_t errlen);
/* Waits up to timeout_ms for socket activity (curl_multi_poll), but not at
   all while `only` has bytes buffered or is done (only == NULL: while any
   transfer of m has bytes buffered). A caller that steps one transfer
   passes it: another one, paused with a full buffer nobody drains, must
   not turn the wait into a busy loop. 0 or -1 (err). */
int sc_multi_poll(sc_multi *m, const sc_transfer *only, int timeout_ms,
                  char *err, size_t errlen);
/* Interrupts a sc_multi_poll from another thread or a signal handler. */
void sc_multi_wakeup(sc_multi *m);
/* How many transfers are attached (started, not finished). */
int sc_multi_active(const sc_multi *m);
/* curl_multi_timeout: ms until curl wants to be called, -1 for none. */
long sc_multi_timeout(sc_multi *m);

/* The sockets libcurl waits on, for a host's event loop: up to max of them
   into fds[] and events[] (SC_WAIT_* bits); returns how many there are. A
   host waits for these events (or the timeout) and then steps. */
enum { SC_WAIT_READ = 1, SC_WAIT_WRITE = 2 };
size_t sc_multi_sockets(const sc_multi *m, int *fds, int *events, size_t max);
/* A configured easy handle, not started. NULL on failure (err). */
sc_transfer *sc_transfer_new(const sc_transfer_opts *o, char *err, size_t errlen);
/* Attaches t to m; 0 or -1 (err). */
int sc_transfer_start(sc_transfer *t, sc_multi *m, char *err, size_t errlen);
/* Removes t from its multi (if attached) and frees everything. */
void sc_transfer_free(sc_transfer *t);
/* Stops t now (removed from its multi): done with fail = reason. */
void sc_transfer_abort(sc_transfer *t, int reason);

/* The next buffered body bytes, at most the buffer size (n = 0 when none):
   libcurl may hand over a larger piece (the buffer then grows to take it),
   but a step never takes more than it asked for. */
const char *sc_transfer_data(const sc_transfer *t, size_t *n);
/* All the bytes buffered, not consumed yet. */
size_t sc_transfer_buffered(const sc_transfer *t);
/* Drops the first n bytes of sc_transfer_data; once the buffer is empty,
   resumes t if it was paused. May run the write callback again (it only
   copies). */
void sc_transfer_consume(sc_transfer *t, size_t n);

int sc_transfer_done(const sc_transfer *t);       /* finished, buffer or not */
CURLcode sc_transfer_result(const sc_transfer *t); /* valid when done */
int sc_transfer_fail(const sc_transfer *t);       /* SC_FAIL_* */
const char *sc_transfer_error(const sc_transfer *t); /* curl's error buffer */
long sc_transfer_status(const sc_transfer *t);    /* 0 before the headers */
int sc_transfer_has_headers(const sc_transfer *t); /* the header block is complete */
const char *sc_transfer_content_type(const sc_transfer *t); /* or NULL */
/* The raw header block of the last response (status line first). */
const char *sc_transfer_headers(const sc_transfer *t, size_t *n);
long long sc_transfer_received(const sc_transfer *t);  /* body bytes, decoded */
/* Wire progress: body bytes as received (before content decoding) and the
   announced length (-1 when unknown). */
void sc_transfer_progress(const sc_transfer *t, long long *now, long long *total);
/* The URL libcurl used last, or NULL. */
const char *sc_transfer_url(const sc_transfer *t);
/* Seconds spent (CURLINFO_TOTAL_TIME); and whether the connection was
   reused from an earlier transfer (CURLINFO_NUM_CONNECTS == 0). */
double sc_transfer_seconds(const sc_transfer *t);
int sc_transfer_reused(const sc_transfer *t);
long sc_transfer_http_version(const sc_transfer *t);

#endif
