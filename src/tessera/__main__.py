"""``python -m tessera`` runs the ``tessera`` command."""

import sys

from tessera.cli.main import main

sys.exit(main())
