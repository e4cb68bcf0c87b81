//! Go's pclntab: bytes to typed tables (functions, pc-value tables, inline trees). Pure, no I/O.
