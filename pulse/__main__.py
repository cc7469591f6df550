"""`python -m pulse` runs the `pulse` command, as the console script does.

An entry point, not part of the domain: nothing imports this module, and it names the web
door's CLI by string, so neither the domain nor its type check (mypy on pulse/) depends on
the web app.
"""

import importlib

if __name__ == "__main__":
    importlib.import_module("webapp.cli").main(prog_name="pulse")
