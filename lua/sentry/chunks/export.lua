-- sentry.chunks.export: the same module as sentry.chunks.analysis.export (its
-- name before the analysis helpers moved to their own folder).
return require "sentry.chunks.analysis.export"
