-- sentry.chunks.filter: the same module as sentry.chunks.analysis.filter (its
-- name before the analysis helpers moved to their own folder).
return require "sentry.chunks.analysis.filter"
