"""One module per subcommand; each imports heavy libraries (torch) only inside its function."""
