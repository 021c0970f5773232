//! Job construction for a Task: pure, no I/O.
