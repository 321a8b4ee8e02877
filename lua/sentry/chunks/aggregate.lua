-- sentry.chunks.aggregate: the same module as sentry.chunks.analysis.aggregate (its
-- name before the analysis helpers moved to their own folder).
return require "sentry.chunks.analysis.aggregate"
