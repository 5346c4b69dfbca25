"""logmemory: run a command and log the RAM high-water mark of it and of every process it starts."""
