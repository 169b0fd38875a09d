"""``python -m societas`` is the ``societas`` command."""

from societas.cli.main import main

main()
