"""Read-only HTTP pages served beside IPP on the IPP listener: status and metrics."""
