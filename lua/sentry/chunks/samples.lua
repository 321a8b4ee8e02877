-- sentry.chunks.samples: the same module as sentry.chunks.analysis.samples (its
-- name before the analysis helpers moved to their own folder).
return require "sentry.chunks.analysis.samples"
