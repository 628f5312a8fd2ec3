"""The operator's command line: look at topics, consumer lag and records, send a
command, list and re-drive dead letters. One module per ``storecredit`` sub-command,
each registering itself with ``add_parser(commands)``; the Kafka plumbing they share
is in :mod:`shared.tools.operator.connection` and :mod:`shared.tools.operator.reading`."""
