//! Cluster view from peer ipkit daemons (SPEC §5 Peers).
