//! ipkit daemon: event-driven monitoring, local recovery, status API, metrics.
