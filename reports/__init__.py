"""mmsites: reports."""
