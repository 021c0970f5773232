//! kelos-controller library.
