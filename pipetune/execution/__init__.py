"""Where trials run: this thread, a thread pool, and (later) processes, scripts and workers."""
