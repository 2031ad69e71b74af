//! The Linux implementation of the kernel seam: netlink and `AF_PACKET`.

pub mod netlink;
pub mod packet;
