"""The ``velora`` command-line tool: argument parsing and Rich rendering over the library."""
