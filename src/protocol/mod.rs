//! IO-free protocol core (placeholder).
