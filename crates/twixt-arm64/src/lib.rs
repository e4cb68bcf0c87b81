//! arm64 decoding for display and classification of instructions that matter to unwinding.
