rockspec_format = "3.0"
package = "sentry-chunks"
version = "scm-1"
source = {
   url = "git+https://github.com/sentry-chunks/sentry-chunks.git",
}
description = {
   summary = "Fetch Sentry continuous-profiling chunks and analyse them in Lua",
   detailed = [[
A streaming JSON decoder in C that builds Lua tables as bytes arrive from
libcurl, a client for Sentry's profile-chunks endpoint, and pure-Lua helpers
that weigh samples the way Sentry does, find hot functions and export
flamegraphs.]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1, < 5.5",
   "lua-cjson >= 2.1",
}
external_dependencies = {
   -- The library only: Debian and Ubuntu keep curl/curl.h under the multiarch
   -- include directory, which the compiler searches by itself but LuaRocks
   -- does not; CURL_DIR / CURL_INCDIR / CURL_LIBDIR still work elsewhere.
   CURL = { library = "curl" },
}
build = {
   type = "builtin",
   modules = {
      ["sentry.chunks.core"] = {
         sources = {
            "src/decoder.c", "src/shapes.c", "src/builder.c", "src/ldecoder.c", "src/lsentry_chunks.c",
            "src/transfer.c", "src/lrequest.c", "src/lanes.c", "src/engine.c", "src/lchecks.c",
         },
         defines = { "_POSIX_C_SOURCE=200809L" },
         libraries = { "curl" },
         incdirs = { "$(CURL_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)" },
      },
      ["sentry.chunks"] = "lua/sentry/chunks/init.lua",
      ["sentry.chunks.client"] = "lua/sentry/chunks/client.lua",
      ["sentry.chunks.request"] = "lua/sentry/chunks/request.lua",
      ["sentry.chunks.answer"] = "lua/sentry/chunks/answer.lua",
      ["sentry.chunks.retry"] = "lua/sentry/chunks/retry.lua",
      ["sentry.chunks.discovery"] = "lua/sentry/chunks/discovery.lua",
      ["sentry.chunks.dedupe"] = "lua/sentry/chunks/dedupe.lua",
      ["sentry.chunks.analysis.frames"] = "lua/sentry/chunks/analysis/frames.lua",
      ["sentry.chunks.analysis.samples"] = "lua/sentry/chunks/analysis/samples.lua",
      ["sentry.chunks.analysis.aggregate"] = "lua/sentry/chunks/analysis/aggregate.lua",
      ["sentry.chunks.analysis.filter"] = "lua/sentry/chunks/analysis/filter.lua",
      ["sentry.chunks.analysis.export"] = "lua/sentry/chunks/analysis/export.lua",
      ["sentry.chunks.frames"] = "lua/sentry/chunks/frames.lua",
      ["sentry.chunks.samples"] = "lua/sentry/chunks/samples.lua",
      ["sentry.chunks.aggregate"] = "lua/sentry/chunks/aggregate.lua",
      ["sentry.chunks.filter"] = "lua/sentry/chunks/filter.lua",
      ["sentry.chunks.export"] = "lua/sentry/chunks/export.lua",
      ["sentry.chunks.analysis"] = "lua/sentry/chunks/analysis/init.lua",
      ["sentry.chunks.nvim"] = "lua/sentry/chunks/nvim.lua",
      ["sentry.chunks.resty"] = "lua/sentry/chunks/resty.lua",
      ["sentry.chunks.range"] = "lua/sentry/chunks/range.lua",
      ["sentry.chunks.url"] = "lua/sentry/chunks/url.lua",
      ["sentry.chunks.loadcore"] = "lua/sentry/chunks/loadcore.lua",
      ["sentry.chunks.layout"] = "lua/sentry/chunks/layout.lua",
      ["sentry.chunks.report"] = "lua/sentry/chunks/report.lua",
      ["sentry.chunks.nvim.analyze"] = "lua/sentry/chunks/nvim/analyze.lua",
   },
   install = {
      bin = { ["sentry-chunks"] = "bin/sentry-chunks" },
   },
   copy_directories = {},
}
