//! Model unwinders (Go's runtime traceback, frame pointers). Pure functions of registers, memory and metadata.
