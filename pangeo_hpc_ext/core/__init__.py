"""The cluster core: ClusterManager and what it keeps per cluster. Async, and it knows no HTTP."""
