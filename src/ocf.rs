//! The OCF resource-agent face (Pacemaker).
