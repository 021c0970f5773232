//! Kelos API types.
