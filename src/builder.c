/*
** builder.c: the sink that builds Lua tables from decoder events through
** the C API.
**
** Where time goes when decoding a profile: creating tables and inserting
** keys. So every table is created at its size hint (shapes.h), and short
** strings (keys, thread ids, function names) come from the string cache
** instead of being hashed and interned again.
**
** Only lua_createtable, lua_pushlstring, lua_rawset(i), lua_setmetatable
** and the call of the row maker (staged rows, builder.h) can raise here
** (out of memory); the binding runs the decoder under lua_pcall and never
** inside a libcurl callback.
*/
#include "builder.h"

#include <string.h>

#define CACHE_IDX(b) ((b)->base + 1)
#define SC_TEXT_ROWS_MAX (1 << 21) /* 2 M rows: 96 MB of columns on 5.4 */
#define MT_IDX(b) ((b)->base + 2)
/* Holders of at least this many rows, when more of the document is to be
   fed, get their thread_id and timestamp columns one feed later each. */
#define SC_DEFER_ROWS (1 << 16)

/* Level kinds (sc_shape_level.kind), in the columns layout only. */
enum {
  K_PLAIN = 0,
  K_PROFILE, /* an object under key "profile" */
  K_HOLDER,  /* its "samples" array (columns): aux = the holder's stack index */
  K_ROW,     /* an element of it: aux = its row (1-based) */
  K_SAMPLES, /* its "samples" array (rows), the document's first:
                aux = the slots it was made with */
  K_SROW     /* an element of it while staged: aux = its row (1-based) */
};
/* What the key just seen names, for the next container. */
enum { KEY_OTHER = 0, KEY_PROFILE, KEY_SAMPLES };

/* The three columns every holder has, at holder+1 .. holder+3. */
static const char *const COLUMN_NAMES[3] = {"stack_id", "thread_id", "timestamp"};

void sc_builder_init(sc_builder *b, sc_decoder *dec, unsigned slots) {
  b->L = NULL;
  b->base = 0;
  b->dec = dec;
  b->columns = 0;
  b->last_key_kind = KEY_OTHER;
  b->cols_hint = 0;
  b->in_row = 0;
  b->row_column = 0;
  b->doc_bytes = 0;
  b->holder_presized = 0;
  b->rows_presized = 0;
  b->fed = 0;
  b->deferred = 0;
  b->holder_level = -1;
  b->stage_at = 0;
  b->stage_level = -1;
  b->stage_n = b->stage_first = b->stage_col = 0;
  b->stage_mask = 0;
  sc_shapes_init(&b->shapes, slots);
}

void sc_builder_free(sc_builder *b) { sc_shapes_free(&b->shapes); }

void sc_builder_push_fixed(lua_State *L, const sc_builder *b, int mt_index) {
  if (b->shapes.slots > 0) lua_createtable(L, (int)b->shapes.slots, 0);
  else lua_pushnil(L); /* never read: every string is uncached */
  lua_pushvalue(L, mt_index);
}

/* Pushes the string s[0..n); returns its cache slot, or -1 if uncached. */
static int push_string(sc_builder *b, const char *s, size_t n) {
  lua_State *L = b->L;
  int hit, slot = sc_shapes_string(&b->shapes, s, n, &hit);
  if (hit) {
    lua_rawgeti(L, CACHE_IDX(b), slot + 1);
    return slot;
  }
  lua_pushlstring(L, s, n);
  if (slot >= 0) {
    lua_pushvalue(L, -1);
    lua_rawseti(L, CACHE_IDX(b), slot + 1);
  }
  return slot;
}

/* ---- staged rows (builder.h) ---- */

#define SC_STAGE_ROWS 1024
static const char stage_key = 'r'; /* registry: the row maker, or nil */

/* The row maker: makes rows[at + 1 .. at + n] from the stage. A missing
   key is a nil in the stage: the row holds no such key. */
static const char ROW_MAKER[] =
  "return function(rows, at, stage, n)\n"
  "  local j = 1\n"
  "  for i = at + 1, at + n do\n"
  "    rows[i] = { stack_id = stage[j], thread_id = stage[j + 1], timestamp = stage[j + 2] }\n"
  "    j = j + 3\n"
  "  end\n"
  "end\n";

int sc_builder_stage_rows(lua_State *L, int on) {
  int was;
  lua_pushlightuserdata(L, (void *)&stage_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  was = !lua_isnil(L, -1);
  lua_pop(L, 1);
  lua_pushlightuserdata(L, (void *)&stage_key);
  if (on) {
    if (luaL_loadbuffer(L, ROW_MAKER, sizeof ROW_MAKER - 1, "=sentry.chunks.rows") != 0)
      lua_error(L);
    lua_call(L, 0, 1);
  } else {
    lua_pushnil(L);
  }
  lua_rawset(L, LUA_REGISTRYINDEX);
  return was;
}

/* Makes the staged complete rows (the stage's slots unchanged). */
static int stage_flush(sc_builder *b) {
  lua_State *L = b->L;
  if (b->stage_n == 0) return 0;
  if (!lua_checkstack(L, 6)) {
    sc_decoder_fail(b->dec, "nesting too deep for the Lua stack");
    return 1;
  }
  lua_pushvalue(L, b->stage_at + 1);
  lua_pushvalue(L, b->stage_at - 1);
  lua_pushinteger(L, b->stage_first);
  lua_pushvalue(L, b->stage_at);
  lua_pushinteger(L, b->stage_n);
  lua_call(L, 4, 0);
  b->stage_first += b->stage_n;
  b->stage_n = 0;
  return 0;
}

/* Ends the staging: the complete rows made, the two slots removed (what
   is above them moves down). */
static int stage_end(sc_builder *b) {
  if (stage_flush(b)) return 1;
  lua_remove(b->L, b->stage_at);
  lua_remove(b->L, b->stage_at);
  b->stage_at = 0;
  return 0;
}

/* The staged row being read does not fit: its values so far go into a
   table of its own, pushed as the open object's (kind K_PLAIN), and the
   staging ends. with_key: the key just seen is pushed too (a container
   comes as its value). */
static int stage_row_to_table(sc_builder *b, int with_key) {
  lua_State *L = b->L;
  sc_shape_level *lv = sc_shapes_top(&b->shapes);
  int col, at = 3 * b->stage_n;
  lua_createtable(L, 0, 4);
  for (col = 0; col < 3; col++) {
    if (!(b->stage_mask & (1u << col))) continue;
    lua_pushstring(L, COLUMN_NAMES[col]);
    lua_rawgeti(L, b->stage_at, at + col + 1);
    lua_rawset(L, -3);
  }
  if (stage_end(b)) return 1;
  lv->kind = K_PLAIN;
  /* attached when it closes, as any element: its row number again */
  b->shapes.levels[b->shapes.depth - 2].count--;
  if (with_key) lua_pushstring(L, COLUMN_NAMES[b->stage_col]);
  return 0;
}

/* Whether the innermost open level is the staged array. */
static int in_stage(const sc_builder *b) {
  return b->stage_at && (int)b->shapes.depth - 1 == b->stage_level;
}

static int not_a_sample(sc_builder *b) {
  sc_decoder_fail(b->dec, "columns layout: a sample is not an object");
  return 1;
}

/* Puts the value on top of the stack into the enclosing container. */
static int attach(sc_builder *b) {
  sc_shape_level *lv;
  if (b->shapes.depth == 0) return 0; /* the top-level value stays put */
  lv = sc_shapes_top(&b->shapes);
  if (lv->kind == K_SROW) { /* stage[row][col] = value */
    lua_rawseti(b->L, b->stage_at, 3 * b->stage_n + b->stage_col + 1);
    b->stage_mask |= 1u << b->stage_col;
    return 0;
  }
  if (in_stage(b) && stage_end(b)) return 1; /* an element not an object */
  if (lv->kind == K_ROW) {
    if (b->row_column) { /* value: holder column[row] = value */
      lua_rawseti(b->L, b->row_column, lv->aux);
    } else { /* column, value: column[row] = value */
      lua_rawseti(b->L, -2, lv->aux);
      lua_pop(b->L, 1);
    }
  } else if (lv->kind == K_HOLDER) {
    return not_a_sample(b);
  } else if (lv->is_object) {
    lua_rawset(b->L, -3);
  } else {
    lua_rawseti(b->L, -2, ++lv->count);
  }
  return 0;
}

/* Pushes a samples holder {stack_id =, thread_id =, timestamp =} (n is set
   when it closes) and its three columns above it, presized to the rows of
   the previous holder and a sixteenth more. */
/* For the first samples of a document of known size: about as many rows
   as the rest of the text holds samples of the usual size, or 0. A guess
   too large is copied to size at the end (slack). A fetch knows the size
   from Content-Length, which a server may state falsely: at most
   SC_TEXT_ROWS_MAX rows are taken on its word (a 50-chunk answer of a
   4-thread profiler has 1.2 M samples; past 2 M the arrays double).
   Grown by doubling instead, the columns of a one-chunk answer of a
   million samples were copied some twenty times: a fresh process took
   0.7 s, not 0.3 s. */
static int rows_for_text(const sc_builder *b, size_t bytes_per_row) {
  size_t seen = sc_decoder_opened_at(b->dec), guess;
  if (b->doc_bytes <= seen) return 0;
  guess = (b->doc_bytes - seen) / bytes_per_row;
  return guess < 64 ? 0 : guess > SC_TEXT_ROWS_MAX ? SC_TEXT_ROWS_MAX : (int)guess;
}

static void open_holder(sc_builder *b) {
  lua_State *L = b->L;
  int i, h, rows = b->cols_hint;
  if (rows == 0) rows = rows_for_text(b, SC_SAMPLE_BYTES);
  b->holder_presized = rows;
  /* Fed in pieces, with more of the document to come, the thread_id and
     timestamp columns start empty and are made at their size on the next
     two feeds (sc_builder_before_feed), one each: three large arrays at
     once are one long stretch of fresh pages (76 ms for 1.3 M rows on
     LuaJIT here), which a fetch stepped on an editor's loop waited out. */
  b->deferred = rows >= SC_DEFER_ROWS && b->doc_bytes > b->fed ? 2 : 0;
  lua_createtable(L, 0, 4);
  h = lua_gettop(L);
  for (i = 0; i < 3; i++) {
    lua_pushstring(L, COLUMN_NAMES[i]);
    lua_createtable(L, i > 0 && b->deferred ? 0 : rows, 0);
    lua_pushvalue(L, -1);
    lua_insert(L, -3); /* column, name, column */
    lua_rawset(L, h);
  }
}

static int open_container(sc_builder *b, int is_object) {
  int narr, nrec, kind = K_PLAIN;
  sc_shape_level *lv;
  /* Two slots: the table, and above it a key (objects) or an element; a
     holder takes four (itself and its columns) below those. */
  if (!lua_checkstack(b->L, 6)) {
    sc_decoder_fail(b->dec, "nesting too deep for the Lua stack");
    return 1;
  }
  if (b->stage_at && b->shapes.depth > 0) {
    lv = sc_shapes_top(&b->shapes);
    if (lv->kind == K_SROW) { /* a container as a sample's value */
      if (stage_row_to_table(b, 1)) return 1;
    } else if (in_stage(b)) {
      if (is_object) { /* a row: its values go to the stage */
        if (sc_shapes_open(&b->shapes, 1, &narr, &nrec)) {
          sc_decoder_fail(b->dec, "out of memory");
          return 1;
        }
        lv = sc_shapes_top(&b->shapes);
        lv->kind = K_SROW;
        lv->aux = ++b->shapes.levels[b->shapes.depth - 2].count;
        b->stage_mask = 0;
        return 0;
      }
      if (stage_end(b)) return 1; /* an array as an element */
    }
  }
  /* inside a sample nothing is converted (as chunks.columns and
     chunks.rows, which take a sample's values as they are) */
  if (b->shapes.depth > 0 && !b->in_row) {
    lv = sc_shapes_top(&b->shapes);
    if (lv->kind == K_HOLDER) {
      if (!is_object) return not_a_sample(b);
      kind = K_ROW;
    } else if (lv->is_object) {
      if (b->last_key_kind == KEY_PROFILE && is_object) kind = K_PROFILE;
      else if (b->last_key_kind == KEY_SAMPLES && !is_object && lv->kind == K_PROFILE)
        kind = b->columns ? K_HOLDER : b->rows_presized ? K_PLAIN : K_SAMPLES;
    }
  }
  if (sc_shapes_open(&b->shapes, is_object, &narr, &nrec)) {
    sc_decoder_fail(b->dec, "out of memory");
    return 1;
  }
  lv = sc_shapes_top(&b->shapes);
  lv->kind = kind;
  if (kind == K_SAMPLES) { /* as a holder's columns, see open_holder */
    int rows = rows_for_text(b, SC_ROW_BYTES);
    b->rows_presized = 1;
    if (rows > narr) narr = rows;
    lv->aux = narr;
  }
  if (kind == K_SAMPLES) { /* staged, when a row maker is installed */
    lua_pushlightuserdata(b->L, (void *)&stage_key);
    lua_rawget(b->L, LUA_REGISTRYINDEX);
    if (lua_isnil(b->L, -1)) {
      lua_pop(b->L, 1);
    } else { /* rows, stage, maker: 4 slots of the 6 checked above */
      lua_createtable(b->L, narr, 0);
      lua_insert(b->L, -2);
      lua_createtable(b->L, 3 * SC_STAGE_ROWS, 0);
      lua_insert(b->L, -2);
      b->stage_at = lua_gettop(b->L) - 1;
      b->stage_level = (int)b->shapes.depth - 1;
      b->stage_n = b->stage_first = 0;
      return 0;
    }
  }
  if (kind == K_ROW) { /* no table: its values go to the columns */
    lv->aux = ++b->shapes.levels[b->shapes.depth - 2].count;
    b->in_row = 1;
  } else if (kind == K_HOLDER) {
    open_holder(b);
    lv->aux = lua_gettop(b->L) - 3;
    b->holder_level = b->shapes.depth - 1;
  } else {
    lua_createtable(b->L, narr, nrec);
  }
  return 0;
}

void sc_builder_before_feed(sc_builder *b, size_t n) {
  lua_State *L = b->L;
  const sc_shape_level *hl;
  int h, i, r, rows;
  b->fed += n;
  if (b->deferred == 0) return;
  hl = &b->shapes.levels[b->holder_level];
  h = hl->aux; /* the holder; its columns at h + 1 .. h + 3 */
  i = 3 - b->deferred;
  rows = hl->count; /* made so far (the one being filled included) */
  lua_createtable(L, b->holder_presized, 0);
  for (r = 1; r <= rows; r++) {
    lua_rawgeti(L, h + 1 + i, r);
    lua_rawseti(L, -2, r);
  }
  lua_replace(L, h + 1 + i); /* row_column names the slot: still right */
  lua_pushstring(L, COLUMN_NAMES[i]);
  lua_pushvalue(L, h + 1 + i);
  lua_rawset(L, h);
  b->deferred--;
}

static int on_begin_object(void *ud) { return open_container(ud, 1); }
static int on_begin_array(void *ud) { return open_container(ud, 0); }

static int on_end_object(void *ud) {
  sc_builder *b = ud;
  int kind = sc_shapes_top(&b->shapes)->kind;
  sc_shapes_close(&b->shapes);
  if (kind == K_SROW) { /* nil for a key not seen; the rows made by 1024 */
    int col;
    for (col = 0; col < 3; col++) {
      if (b->stage_mask & (1u << col)) continue;
      lua_pushnil(b->L);
      lua_rawseti(b->L, b->stage_at, 3 * b->stage_n + col + 1);
    }
    if (++b->stage_n == SC_STAGE_ROWS) return stage_flush(b);
    return 0;
  }
  if (kind == K_ROW) { /* nothing on the stack */
    b->in_row = 0;
    return 0;
  }
  return attach(b);
}

/* Whether columns that grew from `hint` to n rows waste more than a quarter
   of their array: past its hint, a Lua array grows by doubling. */
static int slack(int hint, int n) {
  double cap = hint;
  if (n > hint) for (cap = 1; cap < n; cap *= 2) {}
  return (double)n < cap * 0.75;
}

/* Replaces the array at stack index a (n rows, made larger) by a copy in
   an array of exactly n slots: a third of the memory of an array that
   doubled past its size is otherwise empty. */
static void copy_to_size(lua_State *L, int a, int n) {
  int r;
  lua_createtable(L, n, 0);
  for (r = 1; r <= n; r++) {
    lua_rawgeti(L, a, r);
    lua_rawseti(L, -2, r);
  }
  lua_replace(L, a);
}

/* copy_to_size for column i of the holder at h (at h+1+i). */
static void column_to_size(lua_State *L, int h, int i, int n) {
  copy_to_size(L, h + 1 + i, n);
  lua_pushstring(L, COLUMN_NAMES[i]);
  lua_pushvalue(L, h + 1 + i);
  lua_rawset(L, h);
}

static int on_end_array(void *ud) {
  sc_builder *b = ud;
  lua_State *L = b->L;
  if (in_stage(b) && stage_end(b)) return 1;
  int kind = sc_shapes_top(&b->shapes)->kind, made = sc_shapes_top(&b->shapes)->aux;
  int n = sc_shapes_close(&b->shapes);
  /* Rows presized too large (a guess from the text) are copied to size.
     Grown past their presize, they are kept: the array's empty half is
     under a tenth of the rows' memory, and the copy's fresh pages cost a
     third of the decode on LuaJIT (50 ms of 150 for 1.2 M rows fed in
     pieces of a document of unknown size). */
  if (kind == K_SAMPLES && (n == 0 ? made > 0 : n <= made && slack(made, n)))
    copy_to_size(L, lua_gettop(L), n); /* 2 slots above it: open_container checked 6 */
  if (kind == K_HOLDER) { /* holder, stack_id, thread_id, timestamp */
    int i;
    b->deferred = 0; /* closed before its next feed: slack sizes them */
    /* no rows: the columns presized to the last holder's rows (or to the
       text) are empty arrays of that size (26 bytes of text kept 4.7 MB
       after 100k rows) */
    if (n == 0 ? b->holder_presized > 0 : slack(b->holder_presized, n)) {
      if (!lua_checkstack(L, 4)) {
        sc_decoder_fail(b->dec, "nesting too deep for the Lua stack");
        return 1;
      }
      for (i = 0; i < 3; i++) column_to_size(L, lua_gettop(L) - 3, i, n);
    }
    if (n == 0) {
      for (i = 1; i <= 3; i++) { /* keeps [] apart from {} */
        lua_pushvalue(L, MT_IDX(b));
        lua_setmetatable(L, -1 - i);
      }
    }
    lua_pop(L, 3);
    lua_pushliteral(L, "n");
    lua_pushinteger(L, (lua_Integer)n);
    lua_rawset(L, -3);
    /* The next chunk's samples: about as many. A sixteenth more keeps one
       a little larger from doubling its columns and paying a copy back to
       size; a smaller one is copied only when a quarter is empty (slack). */
    b->cols_hint = n < (1 << 26) ? n + n / 16 : n;
  } else if (n == 0) { /* keeps [] apart from {} */
    lua_pushvalue(L, MT_IDX(b));
    lua_setmetatable(L, -2);
  }
  return attach(b);
}

/* A key of a row: pushes the column it names, made if new. */
static int row_key(sc_builder *b, const char *s, size_t n) {
  lua_State *L = b->L;
  int h = b->shapes.levels[b->shapes.depth - 2].aux, col = -1, slot;
  b->last_key_kind = KEY_OTHER;
  if (n == 8 && memcmp(s, "stack_id", 8) == 0) col = 0;
  else if (n == 9 && memcmp(s, "thread_id", 9) == 0) col = 1;
  else if (n == 9 && memcmp(s, "timestamp", 9) == 0) col = 2;
  if (col >= 0) { /* the value goes straight to the holder's column */
    b->row_column = h + 1 + col;
    sc_shapes_key(&b->shapes, -1);
    return 0;
  }
  b->row_column = 0;
  if (n == 1 && s[0] == 'n') {
    sc_decoder_fail(b->dec, "columns layout: a sample has the key \"n\" (the holder's count)");
    return 1;
  }
  slot = push_string(b, s, n);
  lua_pushvalue(L, -1);
  lua_rawget(L, h);
  if (lua_isnil(L, -1)) { /* key, nil: a new column */
    lua_pop(L, 1);
    lua_createtable(L, 0, 0);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_rawset(L, h);
  }
  lua_remove(L, -2);
  sc_shapes_key(&b->shapes, slot);
  return 0;
}

static int on_key(void *ud, const char *s, size_t n) {
  sc_builder *b = ud;
  int kind = sc_shapes_top(&b->shapes)->kind;
  if (kind == K_ROW) return row_key(b, s, n);
  if (kind == K_SROW) {
    int col = n == 8 && memcmp(s, "stack_id", 8) == 0 ? 0
            : n == 9 && memcmp(s, "thread_id", 9) == 0 ? 1
            : n == 9 && memcmp(s, "timestamp", 9) == 0 ? 2 : -1;
    b->last_key_kind = KEY_OTHER;
    if (col >= 0) {
      b->stage_col = col;
      sc_shapes_key(&b->shapes, -1);
      return 0;
    }
    if (stage_row_to_table(b, 0)) return 1; /* a fourth key */
  }
  b->last_key_kind = n != 7 ? KEY_OTHER
                   : memcmp(s, "profile", 7) == 0 ? KEY_PROFILE
                   : memcmp(s, "samples", 7) == 0 ? KEY_SAMPLES : KEY_OTHER;
  sc_shapes_key(&b->shapes, push_string(b, s, n));
  return 0;
}

static int on_string(void *ud, const char *s, size_t n) {
  sc_builder *b = ud;
  push_string(b, s, n);
  return attach(b);
}

static int on_integer(void *ud, long long v) {
  sc_builder *b = ud;
  sc_pushint64(b->L, v);
  return attach(b);
}

static int on_number(void *ud, double v) {
  sc_builder *b = ud;
  lua_pushnumber(b->L, (lua_Number)v);
  return attach(b);
}

static int on_literal(void *ud, sc_literal v) {
  sc_builder *b = ud;
  if (v == SC_LIT_NULL) lua_pushlightuserdata(b->L, NULL); /* == cjson.null */
  else lua_pushboolean(b->L, v == SC_LIT_TRUE);
  return attach(b);
}

const sc_sink sc_builder_sink = {
  on_begin_object, on_end_object, on_begin_array, on_end_array,
  on_key, on_string, on_integer, on_number, on_literal,
};
