"""L7: the spec-script runner (``python -m sharedwasm spectest``), an embedder of the public API.

``runner`` executes one script's commands (``threads`` runs its ``thread`` blocks in worker
processes); ``host`` is the ``spectest`` host module;
``values`` converts script values to API values and matches results by bits; ``report``
is the command line and its output.
"""
