"""What a run writes for people to read: the Markdown report of a collapse run (``report``), its metric-per-generation
plots (``plots``), the floating-point experiment's report and plots (``fp_report``), and results as JSON with NaN
written as null (``json_file``)."""
