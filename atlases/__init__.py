"""mmsites: atlases."""
