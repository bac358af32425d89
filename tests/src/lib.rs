//! Test support for wyn-edge: the demo origin (a small WYN-like app) that `make dev`, the
//! end-to-end suite and the bench run the edge in front of.

pub mod origin;
