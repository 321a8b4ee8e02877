-- sentry.chunks.frames: the same module as sentry.chunks.analysis.frames (its
-- name before the analysis helpers moved to their own folder).
return require "sentry.chunks.analysis.frames"
