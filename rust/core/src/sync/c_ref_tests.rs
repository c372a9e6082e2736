//! Differential tests against C (filled in below).
