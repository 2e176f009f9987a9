"""gunicorn reads ./gunicorn.conf.py from its working directory: in the source tree (`make run`, `make
bench`, the tests) this file, which runs the hub's settings, hub/gunicorn.conf.py.
The wheel carries that file too, and `hub web` (the Docker image's command) starts gunicorn with it
from any directory."""

import runpy
from pathlib import Path

# As a file, not `import hub…`: the bench's bare-Flask baseline reads these settings without the hub.
globals().update({name: value for name, value in
                  runpy.run_path(str(Path(__file__).resolve().parent / "hub" / "gunicorn.conf.py")).items()
                  if not name.startswith("__")})
