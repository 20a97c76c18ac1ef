"""mmsites: encoding."""
