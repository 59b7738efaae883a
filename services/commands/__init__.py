"""One module per ``parley`` command; ``services/cli.py`` only registers them.

Adding a command (``parley hello``):

1. ``services/commands/hello.py``::

       from typing import Annotated
       import typer
       from services.commands import common

       def hello(name: Annotated[str, typer.Option(help="Who to greet.")] = "world") -> None:
           \"\"\"Say hello (the first docstring line is the command's one-line help).\"\"\"
           settings = common.boot("hello")  # settings loaded, logs configured
           print(f"hello {name}")

2. one line in ``services/cli.py``: ``app.command()(hello.hello)``.

Raise a ``ParleyError`` (``services.errors``) for a problem the user can fix: ``parley`` prints
``parley hello: error: <message>`` on stderr and exits 2. Exit codes: ``common.EXIT_*``.
"""
