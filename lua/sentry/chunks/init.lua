-- sentry.chunks: the entry point. The C core decodes; Lua modules fetch,
-- map errors and analyse. Everything a user needs is reachable from here.
-- A core built for another Lua gives a message that says so and how to fix it.
local core = require("sentry.chunks.loadcore").load("sentry.chunks")

local chunks = {
  _VERSION = core.version,
  null = core.null,                     -- the same value as cjson.null
  empty_array_mt = core.empty_array_mt, -- carried by every decoded []
  decode = core.decode,                 -- decode(text [, opts]) -> value | nil, err
  decoder = core.decoder,               -- decoder([opts]) -> d; d:feed(s); d:finish() (opts.size, d:size(n): the size, a hint)
}

-- The samples layouts (opts.layout = "rows" | "columns" of decode, decoder,
-- client:fetch, ...): rows(value) / columns(value) convert, returning new
-- tables (sentry.chunks.layout).
local layout = require "sentry.chunks.layout"
chunks.rows = layout.rows               -- rows(value) -> value
chunks.columns = layout.columns         -- columns(value) -> value | nil, err

-- Fetching (issue 3): client{...}, client:fetch{...}, fetch{...}.
local client = require "sentry.chunks.client"
chunks.client = client.new              -- client([opts]) -> client
chunks.fetch = client.fetch             -- fetch{...} through a default client

-- Profile URLs of Sentry's web UI: parse_url(url) -> org, project,
-- profiler_id, start, end, base_url (client:fetch_url fetches them).
chunks.parse_url = require("sentry.chunks.url").parse_url

-- Analysis (issue 4): the helpers, also reachable one module at a time as
-- sentry.chunks.analysis.frames, .samples, .aggregate, .filter, .export
-- (and by their old names sentry.chunks.frames, ...).
chunks.analysis = require "sentry.chunks.analysis"

-- A few lines about an answer: threads, span, samples, the top five
-- functions (answers from client:fetch print so by themselves).
chunks.summary = chunks.analysis.report.summary

return chunks
