-- Helpers the specs that compare two results share:
--   compare.fixture_text(name) -> the text of ../shared/fixtures/name (or
--     SENTRY_CHUNKS_FIXTURES/name), nil when absent
--   compare.same(a, b [, loose]) -> true | false, where they differ
--   compare.assert_same(a, b [, loose])
local M = {}

function M.fixture_text(name)
  local source = debug.getinfo(1, "S").source:gsub("^@", "")
  local root = source:match("^(.*)/spec/support/[^/]*$") or "."
  local dir = os.getenv("SENTRY_CHUNKS_FIXTURES") or (root .. "/../shared/fixtures")
  local f = io.open(dir .. "/" .. name, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

-- Deep equality: numbers must be equal and of the same subtype; with
-- loose, metatables are not compared.
local function same(a, b, loose, path, seen)
  path, seen = path or "result", seen or {}
  if type(a) ~= "table" or type(b) ~= "table" then
    if a ~= b and not (a ~= a and b ~= b) then
      return false, path .. ": " .. tostring(a) .. " ~= " .. tostring(b)
    end
    if math.type and math.type(a) ~= math.type(b) then return false, path .. ": number subtypes differ" end
    return true
  end
  if seen[a] == b then return true end
  seen[a] = b
  if not loose and getmetatable(a) ~= getmetatable(b) then return false, path .. ": metatables differ" end
  for k, v in pairs(a) do
    local ok, why = same(v, b[k], loose, path .. "." .. tostring(k), seen)
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. ": missing on the left" end
  end
  return true
end
function M.same(a, b, loose) return same(a, b, loose) end
function M.assert_same(a, b, loose)
  local ok, why = same(a, b, loose)
  assert(ok, why)
end

return M
