-- sentry.chunks.discovery: what a transport finds out besides chunks, on
-- top of its own "GET this URL as JSON" (self:_get_json(url) -> res, nil,
-- details | nil, message, details): a project slug's id (cached per
-- client), the profilers seen in spans (the events endpoint, Link pages),
-- and the profile a Sentry URL shows. The libcurl client and
-- sentry.chunks.resty both call these, so they answer alike.
--
--   discovery.project_id(c, slug [, org]), discovery.project_lookup(c,
--   slug [, org]), discovery.profilers(c, q), discovery.fetch_url(c, url
--   [, opts])   (c: base_url, org, _get_json, fetch, fetch_range)
local request = require "sentry.chunks.request"
local answer = require "sentry.chunks.answer"

local M = {}

local floor, format = math.floor, string.format
local type, tostring, tonumber, ipairs = type, tostring, tonumber, ipairs
local argerror, one_line, origin, invalid = request.argerror, request.one_line, request.origin, request.invalid
local escape, dot_segment, is_integer = request.escape, request.dot_segment, request.is_integer
local json_type, is_list = answer.json_type, answer.is_list

-- A project id as the projects endpoint gives it ("1", or 1), or nil:
-- decimal digits only (not "0x10", "1e3", "-1").
local function project_id_of(v)
  if type(v) == "string" and v:match("^%d+$") and #v <= 15 then return tonumber(v) end
  if is_integer(v) and v >= 0 then return v end
  return nil
end

-- What resolving a project slug takes: its id at once (decimal digits,
-- or resolved before by this client); nil, message, details (an invalid
-- slug or organization); or false, url, finish: GET url as JSON, and
-- finish(res, err, details) -> id | nil, message, details takes its
-- answer (and caches the id). client:project_id waits for the answer;
-- client:fetch_async steps it on the same request as the chunks.
function M.project_lookup(self, slug, org)
  org = org or self.org
  if not org then return invalid("org", "no organization: pass org = ... to chunks.client or set SENTRY_ORG") end
  if slug:match("^%d+$") then return tonumber(slug) end
  if dot_segment(org) or dot_segment(slug) or slug == "" then
    return invalid(dot_segment(org) and "org" or "project",
      format("invalid %s '%s'", dot_segment(org) and "organization" or "project slug", dot_segment(org) and org or slug))
  end
  self._slugs = self._slugs or {}
  local key = org .. "/" .. slug
  if self._slugs[key] then return self._slugs[key] end
  local function finish(res, err, details)
    if not res then return nil, format("project '%s': %s", slug, err), details end
    local id = type(res) == "table" and project_id_of(res.id)
    if not id then
      details.kind = "unexpected_shape"
      return nil, format("project '%s': the answer has no project id (decimal digits)", slug), details
    end
    self._slugs[key] = id
    return id
  end
  return false, self.base_url .. "/api/0/projects/" .. escape(org) .. "/" .. escape(slug) .. "/", finish
end

-- client:project_id(slug [, org]) -> the numeric id of a project slug
-- (GET /api/0/projects/{org}/{slug}/), cached per client.
function M.project_id(self, slug, org)
  if type(slug) ~= "string" then argerror(1, "project_id", "string expected, got " .. type(slug)) end
  local id, url, finish = M.project_lookup(self, slug, org)
  if id ~= false then return id, url, finish end -- the id, or nil, message, details
  return finish(self:_get_json(url))
end

-- The next page of a Link header (rel="next" with results="true"), or nil.
local function next_page(link)
  for part in (link or ""):gmatch("[^,]+") do
    local url = part:match("<([^>]+)>")
    if url and part:find('rel="next"', 1, true) and part:find('results="true"', 1, true) then
      return url
    end
  end
  return nil
end

-- Why the Link header's next URL is not followed, or nil: it must be a
-- valid URL of this client's Sentry (the token goes with it).
local function link_problem(self, url)
  local to = origin(url)
  if not to then
    return format("the Link header's next page '%s' is not a valid URL", one_line(url, 120))
  end
  if to ~= origin(self.base_url) then
    return format("the Link header's next page is on another origin (%s): not followed with the token",
      one_line(to, 120))
  end
  return nil
end

-- Why an events answer is not a list of span rows, or nil.
local function events_problem(res)
  if type(res) ~= "table" or not is_list(res.data) then
    return "expected an object with a 'data' array, got " .. json_type(type(res) == "table" and res.data or res)
  end
  for i, row in ipairs(res.data) do
    if type(row) ~= "table" then return format("row %d of 'data' is not an object", i) end
  end
  return nil
end

-- client:profilers{project, stats_period = "24h" [, org]} -> the profilers
-- seen in spans (the events endpoint, dataset=spans), most recent first:
-- {{profiler_id, threads = {"1", ...}, start, finish, spans}, ...}
-- (seconds), following the Link header's pages (at most max_pages, 50).
function M.profilers(self, q)
  if type(q) ~= "table" then argerror(1, "profilers", "table expected, got " .. type(q)) end
  local org = q.org or self.org
  if not org then return invalid("org", "no organization: pass org = ... to chunks.client or set SENTRY_ORG") end
  if dot_segment(org) then return invalid("org", format("invalid organization '%s': not an organization slug", org)) end
  local max_pages = q.max_pages or 50
  if type(max_pages) ~= "number" or max_pages ~= floor(max_pages) or max_pages < 1 then
    argerror(1, "profilers", "field 'max_pages': a positive whole number expected")
  end
  local project = q.project
  if type(project) == "string" and not project:match("^%d+$") then
    local id, err, d = self:project_id(project, org)
    if not id then return nil, err, d end
    project = id
  end
  if not is_integer(project) then return invalid("project", "project is required (an id or a slug)") end
  local sp = q.stats_period or "24h"
  if not tostring(sp):match("^%d+[smhdw]?$") then
    return invalid("stats_period", "invalid stats_period: expected like '24h', got '" .. one_line(sp, 40) .. "'")
  end
  local url = self.base_url .. "/api/0/organizations/" .. escape(org) .. "/events/?dataset=spans"
    .. "&field=profiler.id&field=thread.id&field=precise.start_ts&field=precise.finish_ts"
    .. "&project=" .. format("%d", project) .. "&statsPeriod=" .. escape(sp) .. "&per_page=100"
    .. "&query=" .. escape("has:profiler.id")
  local by_id, list, pages = {}, {}, 0
  while url and pages < max_pages do
    local bad = pages > 0 and link_problem(self, url)
    if bad then -- a bad Link ends the listing with an error, never a shorter list
      return nil, format("page %d: %s", pages + 1, bad), { kind = "unexpected_shape", pages = pages }
    end
    pages = pages + 1
    local res, err, details = self:_get_json(url)
    if not res then return nil, err, details end
    local rows_problem = events_problem(res)
    if rows_problem then
      details.kind = "unexpected_shape"
      return nil, format("page %d: unexpected answer: %s", pages, rows_problem), details
    end
    for _, row in ipairs(res.data) do
      local id = row["profiler.id"]
      if type(id) == "string" and id ~= "" then
        local p = by_id[id]
        if not p then
          p = { profiler_id = id, threads = {}, spans = 0, seen = {} }
          by_id[id] = p
          list[#list + 1] = p
        end
        p.spans = p.spans + 1
        local tid = row["thread.id"]
        if type(tid) == "string" and not p.seen[tid] then
          p.seen[tid] = true
          p.threads[#p.threads + 1] = tid
        end
        local s, f = tonumber(row["precise.start_ts"]), tonumber(row["precise.finish_ts"])
        if s and (not p.start or s < p.start) then p.start = s end
        if f and (not p.finish or f > p.finish) then p.finish = f end
      end
    end
    url = next_page(details.headers and details.headers.link)
  end
  for _, p in ipairs(list) do
    p.seen = nil
    table.sort(p.threads)
  end
  table.sort(list, function(a, b) return (a.finish or 0) > (b.finish or 0) end)
  -- more pages than max_pages: said, not silently a shorter list
  return list, nil, { pages = pages, truncated = url ~= nil or nil }
end

-- client:fetch_url(url [, opts]) -> res | nil, message, details: the
-- profile a Sentry URL shows (chunks.parse_url). A URL with start and end
-- is fetched whole through fetch_range (opts: window, concurrency; layout
-- for every URL: the samples layout, "rows" or "columns"). The
-- URL must be on this client's Sentry: a token is never sent elsewhere.
function M.fetch_url(self, url, opts)
  if type(url) ~= "string" then argerror(1, "fetch_url", "string expected, got " .. type(url)) end
  local parsed, perr = require("sentry.chunks.url").parse_url(url)
  if not parsed then return nil, perr, { kind = "invalid_argument", field = "url" } end
  if origin(parsed.base_url) ~= origin(self.base_url) then
    return nil, format("the URL is on %s but this client asks %s: make a client with base_url = '%s'",
      parsed.base_url, self.base_url, parsed.base_url), { kind = "invalid_argument", field = "url" }
  end
  local project, err, details = self:project_id(tostring(parsed.project), parsed.org)
  if not project then return nil, err, details end
  local q = { org = parsed.org, project = project, profiler_id = parsed.profiler_id,
              layout = opts and opts.layout }
  if parsed.start then
    q.start, q["end"] = parsed.start, parsed["end"]
    opts = opts or {}
    q.window, q.concurrency = opts.window, opts.concurrency
    return self:fetch_range(q)
  end
  q.stats_period = parsed.stats_period
  if opts and opts.window and q.stats_period then -- windows of the length asked
    q.window, q.concurrency = opts.window, opts.concurrency
    return self:fetch_range(q)
  end
  return self:fetch(q)
end

return M
