/*
** transfer.c: libcurl setup, the bounded buffer, pause and resume, one step
** of the multi loop at a time. No Lua here: the callbacks only copy bytes
** into C buffers; everything else happens outside libcurl (see transfer.h).
*/
#include "transfer.h"

#include <sys/select.h>

#include <time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sc_multi {
  CURLM *multi;
  sc_transfer *head; /* attached transfers */
  int active;
};

struct sc_transfer {
  CURL *easy;
  sc_multi *m;                /* set while attached */
  sc_transfer *prev, *next;   /* in m's list */
  char *buf;                  /* the bounded body buffer: buf[0 .. len) are */
  size_t len, cap;            /* the bytes not consumed yet */
  char *hdr;                  /* the header block of the last response */
  size_t hlen, hcap;
  int has_headers;
  int paused;
  int done;
  int fail;
  CURLcode result;
  long long received;         /* body bytes accepted (decoded) */
  long long max_bytes;
  size_t step;                /* the most bytes sc_transfer_data gives */
  double low_speed_limit;     /* the stall check (on_progress) */
  long low_speed_ms;
  double win_start;           /* ms: the stall window's start, 0: none yet */
  curl_off_t win_bytes;       /* wire bytes at the window's start */
  double last_call;           /* ms: on_progress's previous call, 0: none */
  curl_off_t last_bytes;      /* dlnow then */
  char errbuf[CURL_ERROR_SIZE];
};

static void set_err(char *err, size_t errlen, const char *what, const char *detail) {
  if (err && errlen) snprintf(err, errlen, "%s: %s", what, detail ? detail : "failed");
}

/* Multi ------------------------------------------------------------------ */

sc_multi *sc_multi_new(char *err, size_t errlen) {
  sc_multi *m;
  /* Thread-safe and counted in libcurl >= 7.84, so no process-wide flag is
     needed here; never undone, as easy handles may outlive their multi. */
  CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    set_err(err, errlen, "curl_global_init", curl_easy_strerror(rc));
    return NULL;
  }
  m = calloc(1, sizeof *m);
  if (!m) {
    set_err(err, errlen, "sentry.chunks", "out of memory");
    return NULL;
  }
  m->multi = curl_multi_init();
  if (!m->multi) {
    free(m);
    set_err(err, errlen, "curl_multi_init", NULL);
    return NULL;
  }
#ifdef CURLPIPE_MULTIPLEX
  curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
#endif
  return m;
}

static void unlink_transfer(sc_transfer *t) {
  sc_multi *m = t->m;
  if (!m) return;
  if (t->prev) t->prev->next = t->next; else m->head = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  m->active--;
  t->m = NULL;
}

static void detach(sc_transfer *t, int fail, CURLcode result) {
  if (!t->m) return;
  curl_multi_remove_handle(t->m->multi, t->easy);
  unlink_transfer(t);
  if (!t->done) {
    t->done = 1;
    t->result = result;
    if (!t->fail) t->fail = fail;
  }
}

void sc_multi_free(sc_multi *m) {
  if (!m) return;
  while (m->head) detach(m->head, SC_FAIL_DETACHED, CURLE_OK);
  curl_multi_cleanup(m->multi);
  free(m);
}

size_t sc_multi_sockets(const sc_multi *m, int *fds, int *events, size_t max) {
  fd_set r, w, x;
  int maxfd = -1, fd;
  size_t n = 0;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&x);
  /* The engine drives libcurl with curl_multi_perform, under which only
     curl_multi_fdset reports the sockets in use (sockets >= FD_SETSIZE are
     left out by libcurl; a host then falls back to the timeout). */
  if (curl_multi_fdset(m->multi, &r, &w, &x, &maxfd) != CURLM_OK) return 0;
  for (fd = 0; fd <= maxfd; fd++) {
    int ev = (FD_ISSET(fd, &r) ? SC_WAIT_READ : 0) | (FD_ISSET(fd, &w) ? SC_WAIT_WRITE : 0);
    if (ev == 0) continue;
    if (n < max) {
      fds[n] = fd;
      events[n] = ev;
    }
    n++;
  }
  return n;
}

int sc_multi_perform(sc_multi *m, char *err, size_t errlen) {
  int running = 0, left = 0;
  CURLMsg *msg;
  CURLMcode mc = curl_multi_perform(m->multi, &running);
  if (mc != CURLM_OK) {
    set_err(err, errlen, "curl_multi_perform", curl_multi_strerror(mc));
    return -1;
  }
  while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
    sc_transfer *t;
    char *priv = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    t = (sc_transfer *)(void *)priv;
    if (t && t->m == m) {
      CURLcode rc = msg->data.result;
      curl_multi_remove_handle(m->multi, t->easy);
      unlink_transfer(t);
      t->done = 1;
      t->result = rc;
    }
  }
  return 0;
}

int sc_multi_poll(sc_multi *m, const sc_transfer *only, int timeout_ms,
                  char *err, size_t errlen) {
  sc_transfer *t;
  CURLMcode mc;
  if (only) {
    /* bytes wait for that caller, or it has nothing to wait for */
    if (only->len > 0 || only->done || only->m != m) return 0;
  } else {
    for (t = m->head; t; t = t->next)
      if (t->len > 0) return 0; /* bytes wait for a caller: no sleeping */
  }
  if (timeout_ms < 0) timeout_ms = 0;
  mc = curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
  if (mc != CURLM_OK) {
    set_err(err, errlen, "curl_multi_poll", curl_multi_strerror(mc));
    return -1;
  }
  return 0;
}

void sc_multi_wakeup(sc_multi *m) { curl_multi_wakeup(m->multi); }

int sc_multi_active(const sc_multi *m) { return m->active; }

long sc_multi_timeout(sc_multi *m) {
  long ms = -1;
  if (curl_multi_timeout(m->multi, &ms) != CURLM_OK) return -1;
  return ms;
}

/* Callbacks: copy and nothing else ------------------------------------------ */

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  sc_transfer *t = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (1xx, 3xx) */
    t->hlen = 0;
    t->has_headers = 0;
  }
  if (len <= 2 && (len == 0 || p[0] == '\r' || p[0] == '\n')) {
    t->has_headers = 1;
    return len;
  }
  if (t->hlen + len + 1 > t->hcap) {
    size_t cap = t->hcap ? t->hcap : 1024;
    char *nb;
    while (cap < t->hlen + len + 1) cap *= 2;
    if (cap > SC_HEADER_CAP) {
      t->fail = SC_FAIL_HEADERS;
      return 0;
    }
    nb = realloc(t->hdr, cap);
    if (!nb) return 0;
    t->hdr = nb;
    t->hcap = cap;
  }
  memcpy(t->hdr + t->hlen, p, len);
  t->hlen += len;
  t->hdr[t->hlen] = '\0';
  return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  sc_transfer *t = ud;
  size_t len = size * n;
  if (len == 0) return 0;
  if (t->max_bytes > 0 && t->received + (long long)len > t->max_bytes) {
    t->fail = SC_FAIL_TOO_LARGE;
    return 0; /* CURLE_WRITE_ERROR: the transfer stops */
  }
  /* Only ever appends: this may run while a step decodes buf[0 .. len)
     (a finalizer stepping another request of the multi drives libcurl for
     every transfer), so the bytes there never move. */
  if (len > t->cap - t->len) {
    if (t->len > 0) { /* full: curl keeps this piece and offers it again */
      t->paused = 1;
      return CURL_WRITEFUNC_PAUSE;
    }
    /* a single piece larger than the whole buffer: grow once to fit it
       (each step still takes at most the buffer size: sc_transfer_data) */
    {
      char *nb = realloc(t->buf, len);
      if (!nb) return 0;
      t->buf = nb;
      t->cap = len;
    }
  }
  memcpy(t->buf + t->len, p, len);
  t->len += len;
  t->received += (long long)len;
  return len;
}

#define SC_DRIVEN_MS 1500.0 /* longer between two progress calls: not driven */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The stall check: fewer than low_speed_limit * low_speed_ms / 1000 bytes
   since the window began, low_speed_ms ago, is a stall. The window starts
   again whenever that many bytes have come, and while the transfer is
   paused (its bytes wait for the caller, not for the server). Plain C. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow) {
  sc_transfer *t = ud;
  double now = now_ms(), need;
  /* bytes came after a gap longer than libcurl's 1 s speed-check timer
     allows a driven transfer: the caller left it alone (not paused, the
     buffer not full), and the server's bytes waited in the socket, not the
     other way round. A silent server still stalls (no bytes). */
  int undriven = t->last_call > 0 && now - t->last_call > SC_DRIVEN_MS &&
                 dlnow > t->last_bytes;
  (void)dltotal; (void)ultotal; (void)ulnow;
  t->last_call = now;
  t->last_bytes = dlnow;
  if (t->paused || t->win_start == 0 || dlnow < t->win_bytes || undriven) {
    t->win_start = now;
    t->win_bytes = dlnow;
    return 0;
  }
  need = t->low_speed_limit * (double)t->low_speed_ms / 1000.0;
  if (need < 1) need = 1;
  if ((double)(dlnow - t->win_bytes) >= need) {
    t->win_start = now;
    t->win_bytes = dlnow;
    return 0;
  }
  if (now - t->win_start >= (double)t->low_speed_ms) {
    t->fail = SC_FAIL_STALLED;
    return 1; /* CURLE_ABORTED_BY_CALLBACK */
  }
  return 0;
}

/* Transfers ------------------------------------------------------------------ */

#define SETOPT(opt, val)                                        \
  do {                                                          \
    CURLcode rc_ = curl_easy_setopt(t->easy, opt, val);         \
    if (rc_ != CURLE_OK) {                                      \
      set_err(err, errlen, #opt, curl_easy_strerror(rc_));      \
      sc_transfer_free(t);                                      \
      return NULL;                                              \
    }                                                           \
  } while (0)

sc_transfer *sc_transfer_new(const sc_transfer_opts *o, char *err, size_t errlen) {
  sc_transfer *t = calloc(1, sizeof *t);
  if (!t) {
    set_err(err, errlen, "sentry.chunks", "out of memory");
    return NULL;
  }
  t->cap = o->buffer_size ? o->buffer_size : SC_TRANSFER_BUFFER;
  t->step = t->cap;
  t->buf = malloc(t->cap);
  t->easy = curl_easy_init();
  if (!t->buf || !t->easy) {
    set_err(err, errlen, "curl_easy_init", "out of memory");
    sc_transfer_free(t);
    return NULL;
  }
  t->max_bytes = o->max_bytes;

  SETOPT(CURLOPT_URL, o->url);
  SETOPT(CURLOPT_PRIVATE, (void *)t);
  SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_VERBOSE, 0L); /* a trace would print the Authorization header */
  /* Only http and https, including after any redirect; redirects are not
     followed by curl at all: the Lua side follows same-origin ones only. */
#if LIBCURL_VERSION_NUM >= 0x075500
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  SETOPT(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT(CURLOPT_UNRESTRICTED_AUTH, 0L);
  /* Bearer auth through curl's own option: curl copies the string, sends it
     only to this host, and never prints it. */
  if (o->token && o->token[0]) {
    SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
    SETOPT(CURLOPT_XOAUTH2_BEARER, o->token);
  }
  SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
  SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
  if (o->ca_file && o->ca_file[0]) SETOPT(CURLOPT_CAINFO, o->ca_file);
  SETOPT(CURLOPT_ACCEPT_ENCODING, ""); /* every encoding this curl decodes */
  SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  /* Waiting to multiplex pays over TLS, where ALPN answers at once; on
     plain HTTP/1.1 libcurl learns "no multiplexing" only when the first
     answer ends, which would run concurrent requests one after another. */
  if (strncmp(o->url, "https:", 6) == 0) SETOPT(CURLOPT_PIPEWAIT, 1L);
  SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  /* The read size bounds what one read inflates to under Content-Encoding:
     libcurl decodes a whole read, and what the paused write callback cannot
     take it holds in its own pause buffer (at most 64 MB, then "Out of
     memory"). 16 KB reads inflate to at most ~16 MB (deflate's 1032:1). */
  SETOPT(CURLOPT_BUFFERSIZE, (long)(t->step < SC_READ_SIZE ? (t->step < 1024 ? 1024 : t->step)
                                                           : SC_READ_SIZE));
  SETOPT(CURLOPT_USERAGENT, o->user_agent && o->user_agent[0] ? o->user_agent
                                                              : "sentry-chunks/0.1 libcurl");
  if (o->timeout_ms > 0) SETOPT(CURLOPT_TIMEOUT_MS, o->timeout_ms);
  if (o->connect_timeout_ms > 0) SETOPT(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
  if (o->low_speed_ms > 0) {
    t->low_speed_limit = o->low_speed_limit > 0 ? o->low_speed_limit : 1;
    t->low_speed_ms = o->low_speed_ms;
    SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(CURLOPT_XFERINFODATA, (void *)t);
    SETOPT(CURLOPT_NOPROGRESS, 0L);
    /* libcurl's own limit only keeps its 1 s speed-check timer armed, so
       on_progress runs while nothing arrives; its check is off (no time):
       it counted a gap in which the caller drove nothing (its
       speed is a 5 s average) and cut the transfer at the first check
       after it, and in whole bytes/s it cut one above a fractional limit
       (1.67 B/s under 1.2, read as 2). on_progress runs wherever its
       check would (the same update), so nothing is lost. */
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(CURLOPT_LOW_SPEED_TIME, 0L);
  }
  if (o->max_bytes > 0) SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
  SETOPT(CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(CURLOPT_HEADERDATA, (void *)t);
  SETOPT(CURLOPT_WRITEFUNCTION, on_write);
  SETOPT(CURLOPT_WRITEDATA, (void *)t);
  return t;
}

int sc_transfer_start(sc_transfer *t, sc_multi *m, char *err, size_t errlen) {
  CURLMcode mc;
  if (t->m || t->done) {
    set_err(err, errlen, "sentry.chunks", "transfer already started");
    return -1;
  }
  mc = curl_multi_add_handle(m->multi, t->easy);
  if (mc != CURLM_OK) {
    set_err(err, errlen, "curl_multi_add_handle", curl_multi_strerror(mc));
    return -1;
  }
  t->m = m;
  t->prev = NULL;
  t->next = m->head;
  if (m->head) m->head->prev = t;
  m->head = t;
  m->active++;
  return 0;
}

void sc_transfer_free(sc_transfer *t) {
  if (!t) return;
  if (t->m) detach(t, SC_FAIL_ABORTED, CURLE_OK);
  if (t->easy) curl_easy_cleanup(t->easy);
  free(t->buf);
  free(t->hdr);
  free(t);
}

void sc_transfer_abort(sc_transfer *t, int reason) {
  if (t->m) {
    detach(t, reason, CURLE_OK);
  } else if (!t->done) {
    t->done = 1;
    t->fail = reason;
  }
  t->len = 0;
}

const char *sc_transfer_data(const sc_transfer *t, size_t *n) {
  *n = t->len < t->step ? t->len : t->step;
  return t->buf;
}

size_t sc_transfer_buffered(const sc_transfer *t) { return t->len; }

void sc_transfer_consume(sc_transfer *t, size_t n) {
  if (n < t->len) { /* more for the next step; stay paused meanwhile */
    memmove(t->buf, t->buf + n, t->len - n);
    t->len -= n;
    return;
  }
  t->len = 0;
  if (t->paused && t->m && !t->done) {
    t->paused = 0;
    t->win_start = 0; /* the stall window starts again once resumed */
    curl_easy_pause(t->easy, CURLPAUSE_CONT); /* may call on_write now */
  }
}

int sc_transfer_done(const sc_transfer *t) { return t->done; }
CURLcode sc_transfer_result(const sc_transfer *t) { return t->result; }
int sc_transfer_fail(const sc_transfer *t) { return t->fail; }
const char *sc_transfer_error(const sc_transfer *t) {
  if (t->errbuf[0]) return t->errbuf;
  return t->result != CURLE_OK ? curl_easy_strerror(t->result) : NULL;
}

long sc_transfer_status(const sc_transfer *t) {
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

int sc_transfer_has_headers(const sc_transfer *t) { return t->has_headers; }

const char *sc_transfer_content_type(const sc_transfer *t) {
  char *ct = NULL;
  curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
  return ct;
}

const char *sc_transfer_headers(const sc_transfer *t, size_t *n) {
  *n = t->hlen;
  return t->hdr ? t->hdr : "";
}

long long sc_transfer_received(const sc_transfer *t) { return t->received; }

void sc_transfer_progress(const sc_transfer *t, long long *now, long long *total) {
  curl_off_t got = 0, len = -1;
  curl_easy_getinfo(t->easy, CURLINFO_SIZE_DOWNLOAD_T, &got);
  curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
  *now = (long long)got;
  *total = (long long)len;
}

const char *sc_transfer_url(const sc_transfer *t) {
  char *u = NULL;
  curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &u);
  return u;
}

double sc_transfer_seconds(const sc_transfer *t) {
  double s = 0;
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &s);
  return s;
}

int sc_transfer_reused(const sc_transfer *t) {
  long n = 0;
  curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &n);
  return n == 0;
}

long sc_transfer_http_version(const sc_transfer *t) {
  long v = 0;
  curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &v);
  return v;
}
