"""Side effects written in the caller's transaction and delivered later by the task queue."""
