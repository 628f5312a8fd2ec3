"""The seed stories, played against a running platform over Kafka.

``storecredit demo`` (``make demo``) prints them for a person; the end-to-end
tests play the same stories against four service processes and assert on the
facts each story returns.
"""
