"""mmsites: features."""
