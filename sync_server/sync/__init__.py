"""Push, pull, the change log and the live stream."""
