//! Network namespaces: create, enter, run code inside (used by the lab and tests).
