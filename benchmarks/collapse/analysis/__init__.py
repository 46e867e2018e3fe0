"""From records to answers: per-generation metrics of a model's samples and of a filter (``metrics``), when a
lineage collapsed (``rules``), Kaplan–Meier survival and restricted mean survival time (``survival``), the per-arm
summary with delays and the oracle-normalised benefit (``summary``), comparisons across finished runs (``compare``,
``drift``), and the floating-point experiment's statistics (``fp_stats``)."""
