"""The parts of the ``zdm`` command line; its entry point (argument dispatch) is ``bot.__main__``."""
