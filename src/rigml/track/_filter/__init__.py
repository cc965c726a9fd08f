"""The filter and sort language of ``rig runs``: text to a syntax tree to SQL.

``_tokens`` splits the text, ``_parse`` builds the tree of ``_syntax`` nodes, and
``_compile`` turns the tree into SQLAlchemy Core for SQLite and PostgreSQL. The language
itself is described in :mod:`rigml.track._where`, its public front.
"""
