//! Deterministic report renderers: text and JSON.
