//! The ipkit command line.
