from cellspace.cli import entry

entry()
