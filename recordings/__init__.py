"""mmsites: recordings."""
