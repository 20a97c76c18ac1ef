"""mmsites: recordings."""

from mmsites import require_namespace

require_namespace(__name__)
