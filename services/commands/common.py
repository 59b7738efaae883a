"""What every command shares: settings and logs set up once, and the documented exit codes."""

from __future__ import annotations

from services import logs
from services.settings import Settings, load

# The exit codes of `parley` (listed in `parley --help`).
EXIT_OK = 0
EXIT_FAILED = 1  # a service kept failing, or `parley doctor` found a blocking problem
EXIT_USAGE = 2  # a bad option or setting, or a start-up problem; the message names the fix
EXIT_INTERRUPTED = 130  # Ctrl-C in a command that does not treat it as its normal stop

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 a service kept failing or `parley doctor` found a blocking problem; "
    "2 bad option, bad setting or start-up problem (one line on stderr names the fix); 130 interrupted."
)

# The running command's name as errors and logs show it ("up", "projections-rebuild").
current = "parley"


def boot(name: str) -> Settings:
    """Load the settings (a bad one fails here, naming the variable) and configure logging."""
    global current
    current = name
    settings = load()
    logs.configure(settings.log_level, settings.log_format, process=name)
    return settings
