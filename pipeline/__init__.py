"""The pipeline: validated params, the file layout, executors, one module per stage and the CLI."""

from mmsites import require_namespace

require_namespace(__name__)
