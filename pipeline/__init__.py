"""mmsites: pipeline."""
