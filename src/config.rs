//! zoo.cfg parsing (placeholder).
