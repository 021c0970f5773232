//! kelos-spawner library.
