"""mmsites: stats."""
