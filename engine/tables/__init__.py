"""State tables: YAML files → checked ``Table`` models (the compiler lives in ``sipflow.runtime``).

Modules, one job each:

* ``model`` — the in-memory records (``Table``, ``Row``, ``StateDef`` ...), each with its ``Source``;
* ``yamlio`` — safe reading: size cap, binary, alias bombs, duplicate keys, line/column;
* ``schema`` — the JSON Schema generated from the registry (published and structural);
* ``validate`` — structural schema violations as readable ``E-SCHEMA`` diagnostics;
* ``duration`` — ``180s`` / ``500ms`` / ``2m`` → float seconds;
* ``loader`` — shipped names and paths, fragments (``include``), the model, versions;
* ``diagnostics`` and ``rules`` — the ``Diagnostic`` record and the rule catalogue;
* ``lint`` with ``lint_names``, ``lint_rows``, ``lint_graph`` — the semantic checks;
* ``render`` — diagrams and Markdown pages.
"""
