"""Scheduler clients: everything this package knows about one batch scheduler's commands and
their output, one module per scheduler. Backends, `pangeo-hpc lab` and `doctor` all go through
these; nothing above this layer parses scheduler output."""
