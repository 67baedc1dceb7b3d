"""The `knm` commands, one module per group: each defines click commands, and
`knm.cli` adds them to the top-level group."""
