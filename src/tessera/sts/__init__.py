"""STS: operations, sessions (token format, durations) and trust decisions."""
