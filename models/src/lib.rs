//! models (placeholder)
