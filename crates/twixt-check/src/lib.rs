//! Plans regions, drives the emulator, runs the model unwinders and makes findings.
