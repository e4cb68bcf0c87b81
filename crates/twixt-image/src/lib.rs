//! ELF images of Go arm64 binaries: segments, sections, symbols, pclntab location and build info.
