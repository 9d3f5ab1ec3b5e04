"""Pipeline steps: one module per Nextflow process, named after it in lower case.

A step module holds the file-level orchestration of one process (read the inputs, check every
parameter, call the algorithms, write the outputs as a unit) and is run three ways: by the
``cellspace`` subcommand ``COMMAND``, by ``bin/<process>.py`` (what the Nextflow module calls)
and by ``tests/steps/test_<process>.py``. Each module defines:

- ``COMMAND``, ``HELP``, ``DESCRIPTION``: the subcommand and its help;
- a parameter dataclass whose fields give the flags (:mod:`cellspace.steps.params`);
- ``add_arguments(parser)`` and ``run(args) -> int``.

Shared rules live here once: :mod:`cellspace.atomic` (outputs as a unit, stale temp files,
one-line output errors), :mod:`cellspace.steps.entry` (the one error path),
:mod:`cellspace.steps.resources` (memory and optional extras checked up front).
"""
