//! The Linux implementation of the kernel seam: netlink and `AF_PACKET`.
