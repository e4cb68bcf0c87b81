//! The sweep: every frame size in a range, both shapes, judged boundary by boundary.
