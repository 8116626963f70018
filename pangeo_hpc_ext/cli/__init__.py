"""The `pangeo-hpc` command line: `lab`, `status`, `stop`, `doctor`, `demo` (and the emulator's
`lsfsim`, registered by the emulator itself)."""
