//! Event sinks for operators: the system journal, syslog, the JSON-lines event log (with rotation), stderr.
