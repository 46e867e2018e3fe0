"""The experiment: its configuration (``config``), the recursive-training loop (``setup`` builds what every seed
shares, ``loop`` runs each arm's lineage generation by generation into typed ``records``), how each crawl mixes
human and synthetic rows (``schedules``), what each arm does to a crawl (``arms``) with what a practitioner may know
(``practitioner``), the replay adversary (``adversary``), detectors that only measure (``probes``), per-generation
checkpoints for ``--resume`` (``checkpoint``), the seeded random streams (``streams``), and the floating-point
experiment's vectorised replays of the loop (``fp_replay``)."""
