//! An in-memory network implementing the kernel seam, with fault injection.
