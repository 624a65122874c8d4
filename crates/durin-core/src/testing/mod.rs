//! Conformance suites (in progress).
