//! Cluster view from Pacemaker (SPEC §5): membership and replicated node attributes.
